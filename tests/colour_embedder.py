"""A deterministic, model-free image embedder for tests, registered as "test-colour"."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from mmrag.models.image_embed import image_embedders
from mmrag.registry import BackendConfig


class _ColourConfig(BackendConfig):
    type: str = "test-colour"


@image_embedders.register("test-colour", _ColourConfig)
class ColourEmbedder:
    """Deterministic image features: the 4x4 RGB thumbnail, centred and L2-normalised."""

    def __init__(self, config: _ColourConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return "test-colour"

    @property
    def dim(self) -> int:
        return 48

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        rows = []
        for image in images:
            v = np.asarray(image.convert("RGB").resize((4, 4)), dtype=np.float32).ravel()
            v = v - v.mean() + 1e-3
            rows.append(v / np.linalg.norm(v))
        return np.stack(rows)
