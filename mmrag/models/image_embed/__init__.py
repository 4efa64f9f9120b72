"""Image embedders. Importing this package registers the built-in backends."""

from mmrag.models.image_embed import clip, efficientnet
from mmrag.models.image_embed.base import (
    ImageEmbedder,
    ImageTagger,
    TextToImageEmbedder,
    image_embedders,
)

__all__ = [
    "ImageEmbedder",
    "ImageTagger",
    "TextToImageEmbedder",
    "clip",
    "efficientnet",
    "image_embedders",
]
