"""A model-free lexical embedder (signed feature hashing of word uni- and bigrams).

Deterministic and instant: the embedder for tests, and a fallback where no neural model
can be installed. It captures word overlap only, no meaning.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from itertools import pairwise
from typing import Literal

import numpy as np

from mmrag.models.text_embed.base import text_embedders
from mmrag.registry import BackendConfig

_WORD = re.compile(r"\w+", re.UNICODE)


class HashingEmbedderConfig(BackendConfig):
    type: Literal["hashing"] = "hashing"
    dim: int = 256
    max_tokens: int = 256


@text_embedders.register("hashing", HashingEmbedderConfig)
class HashingEmbedder:
    def __init__(self, config: HashingEmbedderConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return f"hashing-{self.config.dim}"

    @property
    def dim(self) -> int:
        return self.config.dim

    @property
    def max_tokens(self) -> int:
        return self.config.max_tokens

    def tokenize(self, text: str) -> list[int]:
        return [_bucket(w, 1 << 30) for w in _WORD.findall(text.lower())]

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            words = _WORD.findall(text.lower())
            for feature in [*words, *(f"{a} {b}" for a, b in pairwise(words))]:
                h = _bucket(feature, 2 * self.dim)
                out[row, h % self.dim] += 1.0 if h < self.dim else -1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.where(norms == 0, 1.0, norms)

    def embed_with_tokens(
        self, texts: Sequence[str], *, is_query: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        return self.embed(texts, is_query=is_query), self.embed_tokens(texts, is_query=is_query)

    def embed_tokens(self, texts: Sequence[str], *, is_query: bool = False) -> list[np.ndarray]:
        """Each word as its own hashed vector (no context): late interaction's word match."""
        out = []
        for text in texts:
            words = _WORD.findall(text.lower())[: self.max_tokens]
            tokens = np.zeros((len(words), self.dim), dtype=np.float32)
            for row, word in enumerate(words):
                h = _bucket(word, 2 * self.dim)
                tokens[row, h % self.dim] = 1.0 if h < self.dim else -1.0
            out.append(tokens)
        return out


def _bucket(feature: str, buckets: int) -> int:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little") % buckets
