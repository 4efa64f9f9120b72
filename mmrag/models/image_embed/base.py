"""The image-embedder seam (image features for image-to-image and, for CLIP, text-to-image)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from mmrag.registry import Registry


@runtime_checkable
class ImageEmbedder(Protocol):
    """Turns images into L2-normalised float32 vectors."""

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray: ...


@runtime_checkable
class ImageTagger(Protocol):
    """Names what an image shows, as (label, probability) pairs, most likely first."""

    def tag_images(
        self, images: Sequence[Image.Image], *, top_k: int = 5
    ) -> list[list[tuple[str, float]]]: ...


@runtime_checkable
class TextToImageEmbedder(Protocol):
    """An image embedder that also embeds texts into its image space (CLIP, SigLIP), so a
    text query can find images directly."""

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray: ...


image_embedders: Registry[ImageEmbedder] = Registry("image_embedders")
