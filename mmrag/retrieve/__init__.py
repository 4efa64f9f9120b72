"""Retrieval: candidate search, fusion, relevancy scoring, adaptive k, re-ranking."""

from mmrag.retrieve.filters import SearchFilter, parse_pages
from mmrag.retrieve.fusion import reciprocal_rank_fusion
from mmrag.retrieve.retriever import Retrieval, Retriever

__all__ = ["Retrieval", "Retriever", "SearchFilter", "parse_pages", "reciprocal_rank_fusion"]
