"""Image embedders. Importing this package registers the built-in backends."""

from mmrag.models.image_embed import efficientnet
from mmrag.models.image_embed.base import ImageEmbedder, ImageTagger, image_embedders

__all__ = ["ImageEmbedder", "ImageTagger", "efficientnet", "image_embedders"]
