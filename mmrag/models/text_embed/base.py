"""The text-embedder seam."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

import numpy as np

from mmrag.registry import Registry


@runtime_checkable
class TextEmbedder(Protocol):
    """Turns text into L2-normalised float32 vectors.

    ``max_tokens`` is the model's input window: the splitter cuts chunks to it so that no
    text is silently truncated, counting with ``tokenize``.
    """

    @property
    def name(self) -> str: ...

    @property
    def dim(self) -> int: ...

    @property
    def max_tokens(self) -> int: ...

    def tokenize(self, text: str) -> list[int]: ...

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray: ...


@runtime_checkable
class TokenEmbedder(Protocol):
    """A text embedder that also gives each text's token vectors (unit length, before
    pooling, special tokens left out): what late interaction compares."""

    def embed_tokens(self, texts: Sequence[str], *, is_query: bool = False) -> list[np.ndarray]: ...

    def embed_with_tokens(
        self, texts: Sequence[str], *, is_query: bool = False
    ) -> tuple[np.ndarray, list[np.ndarray]]:
        """``embed`` and ``embed_tokens``, in one pass where the model allows."""
        ...


text_embedders: Registry[TextEmbedder] = Registry("text_embedders")
