"""Text embedders. Importing this package registers the built-in backends."""

from mmrag.models.text_embed import hashing, sentence_transformers
from mmrag.models.text_embed.base import TextEmbedder, TokenEmbedder, text_embedders

__all__ = ["TextEmbedder", "TokenEmbedder", "hashing", "sentence_transformers", "text_embedders"]
