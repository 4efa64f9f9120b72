"""The offline default relevancy score: a logistic calibration of retrieval signals.

``RS = sigmoid(bias + slope * r + standout * (r - logsumexp(r)))`` with the ranking score
``r = sum(weight[f] * feature[f])`` over :data:`FEATURES` and the log-sum-exp over the
question's candidates: how far a candidate stands out from the others counts, not only
how well it matches. The parameters are fitted on labelled (question, relevant page)
pairs by ``mmrag tune`` (:mod:`mmrag.retrieve.calibration`) and live in the pipeline
file; the shipped ones were fitted on MMLongBench-Doc's dev questions.
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

#: Fitted by `mmrag tune` on MMLongBench-Doc dev (273 answerable questions, searched
#: within their document and across the corpus). See benchmarks/retrieval.py.
DEFAULT_WEIGHTS: dict[str, float] = {
    "text_cos": 3.6443,
    "text_cos_rel": 1.1428,
    "bm25_rel": 1.9122,
    "inv_rank_vector": 0.6911,
    "inv_rank_bm25": -0.2186,
    "both_text_lists": -2.2303,
    "image_cos": 0.0,
    "page_context": 0.6123,
    "doc_prior": 4.6537,
    "page_mention": 4.0727,
    "is_image": 0.5873,
    "rrf": 2.5705,
    "term_coverage": 2.3792,
    "term_coverage_idf": 5.1301,
    "reference_match": 2.6703,
    "printed_page_mention": 3.5217,
}
DEFAULT_BIAS = -2.2064
DEFAULT_SLOPE = 0.1903
DEFAULT_STANDOUT = 0.3627


class CalibratedConfig(BackendConfig):
    type: Literal["calibrated"] = "calibrated"
    weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    bias: float = DEFAULT_BIAS
    #: Platt slope of the ranking score ``weights · features`` (1: weights already scaled).
    slope: float = DEFAULT_SLOPE
    #: Weight of the candidate's log-softmax share among the question's candidates.
    standout: float = DEFAULT_STANDOUT
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
        c = self.config
        scores = relevancy(x @ self._w, bias=c.bias, slope=c.slope, standout=c.standout)
        return [float(v) for v in scores]


def relevancy(ranking: np.ndarray, *, bias: float, slope: float, standout: float) -> np.ndarray:
    """The relevancy scores of one question's candidates from their ranking scores."""
    logits = bias + slope * ranking
    if standout != 0.0 and len(ranking):
        top = ranking.max()
        logits = logits + standout * (ranking - (top + np.log(np.exp(ranking - top).sum())))
    # sigmoid without overflow for very negative logits
    out: np.ndarray = np.exp(-np.logaddexp(0.0, -logits))
    return out
