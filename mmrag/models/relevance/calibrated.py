"""The offline default relevancy score: a logistic calibration of retrieval signals.

``RS = sigmoid(bias + sum(weight[f] * feature[f]))`` over :data:`FEATURES`. The weights
are fitted on labelled (question, relevant page) pairs by ``mmrag tune`` and live in the
pipeline file; the shipped ones were fitted on MMLongBench-Doc's dev questions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field, field_validator

from mmrag.models.relevance.base import Candidates, relevancy_scorers
from mmrag.models.relevance.features import FEATURES, feature_matrix
from mmrag.registry import BackendConfig
from mmrag.schema import ScoredNode

#: Fitted by `mmrag tune` on MMLongBench-Doc dev (271 answerable questions, searched
#: within their document and across the corpus). See benchmarks/retrieval.py.
DEFAULT_WEIGHTS: dict[str, float] = {
    "text_cos": 1.4616,
    "text_cos_rel": 0.467,
    "bm25_rel": 0.7392,
    "inv_rank_vector": 0.2674,
    "inv_rank_bm25": -0.099,
    "both_text_lists": -0.931,
    "image_cos": 0.0,
    "page_context": 0.3014,
    "doc_prior": 1.114,
    "page_mention": 1.6883,
    "is_image": 0.2625,
    "rrf": 1.1081,
    "term_coverage": 1.069,
    "term_coverage_idf": 2.1585,
    "reference_match": 1.0079,
    "printed_page_mention": 1.5043,
}
DEFAULT_BIAS = -5.5424


class CalibratedConfig(BackendConfig):
    type: Literal["calibrated"] = "calibrated"
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    bias: float = DEFAULT_BIAS
    #: The rank-fusion constant the features were computed with.
    rrf_k: int = 60

    @field_validator("weights")
    @classmethod
    def _known_features(cls, weights: dict[str, float]) -> dict[str, float]:
        unknown = set(weights) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; known: {', '.join(FEATURES)}")
        return weights


@relevancy_scorers.register("calibrated", CalibratedConfig)
class CalibratedScorer:
    def __init__(self, config: CalibratedConfig) -> None:
        self.config = config
        self._w = np.array([config.weights.get(f, 0.0) for f in FEATURES], dtype=np.float64)

    @property
    def name(self) -> str:
        return "calibrated"

    def score(self, candidates: Candidates, items: Sequence[ScoredNode]) -> list[float]:
        if not items:
            return []
        x = feature_matrix(candidates, items, self.config.rrf_k).astype(np.float64)
        logits = x @ self._w + self.config.bias
        return [float(v) for v in 1.0 / (1.0 + np.exp(-logits))]
