"""Fitting the calibrated relevancy score: rank first, then calibrate.

Two steps, because the score has two jobs:

1. **Order** each question's candidates. The weights maximise the likelihood that a
   question's relevant candidates come out on top of *its own* list (a softmax over each
   question's candidates, "listwise" learning to rank). A pointwise fit (is this candidate
   relevant, pooled over all questions) spends its effort on telling easy questions' junk
   from hard questions' gold, which no single ranking ever has to do.
2. **Calibrate** that order into a probability (Platt scaling: a logistic fit of the label
   on the ranking score ``r``, and on how far the candidate stands out from the
   question's other candidates, its log-softmax share ``r - logsumexp(r)``), so one bar
   means the same for every question: the second term lowers every candidate of a
   question whose candidates all look alike, where no single one is likely to be it.

The scorer computes ``sigmoid(bias + slope * r + standout * (r - logsumexp(r)))`` with
``r = weights · features`` (:func:`~mmrag.models.relevance.calibrated.relevancy`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from mmrag.errors import ConfigError
from mmrag.models.deps import require


@dataclass(slots=True)
class Calibration:
    weights: dict[str, float]
    bias: float
    slope: float = 1.0
    standout: float = 0.0


def fit_ranking_weights(
    groups: Sequence[tuple[np.ndarray, np.ndarray]], *, l2: float = 1e-4
) -> np.ndarray:
    """Weights maximising sum over questions of log P(a relevant candidate ranks first).

    ``groups``: per question, its candidates' features (n x d) and 0/1 relevance labels.
    Questions without a relevant candidate say nothing about order and are skipped.
    """
    data = [(x.astype(np.float64), y.astype(bool)) for x, y in groups if y.any() and len(y) > 1]
    if not data:
        raise ConfigError("tuning needs labelled questions with a relevant candidate among others")
    optimize = require("scipy.optimize", extra="local", purpose="mmrag tune", package="scipy")
    dims = data[0][0].shape[1]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros(dims)
        for x, relevant in data:
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            p_relevant = float(p[relevant].sum()) + 1e-12
            total -= np.log(p_relevant)
            # d(-log P_rel)/dw = E_all[x] - E_relevant[x]
            grad += p @ x - (p * relevant / p_relevant) @ x
        n = len(data)
        return total / n + l2 * float(w @ w), grad / n + 2 * l2 * w

    result = optimize.minimize(loss, np.zeros(dims), jac=True, method="L-BFGS-B")
    weights: np.ndarray = result.x
    return weights


def platt_scale(columns: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, float]:
    """(coefficients, intercept) of the logistic fit of ``labels`` (both 0s and 1s) on the
    score ``columns`` (n x c)."""
    linear = require(
        "sklearn.linear_model", extra="local", purpose="mmrag tune", package="scikit-learn"
    )
    # Barely regularised: two features, thousands of candidates.
    model = linear.LogisticRegression(C=100.0, max_iter=5000)
    model.fit(columns, labels)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


def fit(
    groups: Sequence[tuple[np.ndarray, np.ndarray]], names: Sequence[str], *, l2: float = 1e-4
) -> Calibration:
    """Ranking weights, then Platt scaling of the ranking score and its standing among
    each question's candidates."""
    if not groups or len(set(np.concatenate([y for _, y in groups]).tolist())) < 2:
        raise ConfigError(
            "tuning needs labelled questions with both relevant and irrelevant candidates"
        )
    w = np.round(fit_ranking_weights(groups, l2=l2), 4)
    columns = []
    for x, _ in groups:
        r = x @ w
        columns.append(np.stack([r, r - _logsumexp(r)], axis=1))
    (slope, standout), intercept = platt_scale(
        np.concatenate(columns), np.concatenate([y for _, y in groups])
    )
    return Calibration(
        weights={name: float(v) for name, v in zip(names, w, strict=True)},
        bias=round(intercept, 4),
        slope=round(float(slope), 4),
        standout=round(float(standout), 4),
    )


def _logsumexp(r: np.ndarray) -> float:
    top = float(r.max())
    return top + float(np.log(np.exp(r - top).sum()))
