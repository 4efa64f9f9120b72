"""Relevancy scorers. Importing this package registers the built-in backends."""

from mmrag.models.relevance import calibrated, cross_encoder, mllm_judge
from mmrag.models.relevance.base import Candidates, RelevancyScorer, relevancy_scorers

__all__ = [
    "Candidates",
    "RelevancyScorer",
    "calibrated",
    "cross_encoder",
    "mllm_judge",
    "relevancy_scorers",
]
