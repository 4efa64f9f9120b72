"""Retrieval: candidate search, fusion, relevancy scoring, adaptive k, re-ranking.

``Retriever`` and ``Retrieval`` load on first use (PEP 562), with the store and models
they need; the filters are light and load at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmrag.retrieve.filters import SearchFilter, parse_pages
from mmrag.retrieve.fusion import reciprocal_rank_fusion

if TYPE_CHECKING:
    from mmrag.retrieve.retriever import Retrieval, Retriever

__all__ = ["Retrieval", "Retriever", "SearchFilter", "parse_pages", "reciprocal_rank_fusion"]


def __getattr__(name: str) -> Any:
    if name in ("Retrieval", "Retriever"):
        from mmrag.retrieve import retriever

        return getattr(retriever, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
