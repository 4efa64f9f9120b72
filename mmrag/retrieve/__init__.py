"""Retrieval: candidate search and fusion (relevancy scoring and reranking come later)."""

from mmrag.retrieve.fusion import reciprocal_rank_fusion
from mmrag.retrieve.search import Searcher

__all__ = ["Searcher", "reciprocal_rank_fusion"]
