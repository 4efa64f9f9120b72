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
    # One padded (questions x candidates x features) array, so each step of the optimiser
    # is a few array operations instead of a Python loop over the questions: grouped
    # cross-validation refits the weights dozens of times.
    n, width, dims = len(data), max(len(y) for _, y in data), data[0][0].shape[1]
    x_all = np.zeros((n, width, dims))
    present = np.zeros((n, width), dtype=bool)
    relevant = np.zeros((n, width), dtype=bool)
    for g, (x, y) in enumerate(data):
        x_all[g, : len(y)] = x
        present[g, : len(y)] = True
        relevant[g, : len(y)] = y

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = np.where(present, x_all @ w, -np.inf)
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p_relevant = (p * relevant).sum(axis=1) + 1e-12
        total = -float(np.log(p_relevant).sum())
        # d(-log P_rel)/dw = E_all[x] - E_relevant[x], per question
        grad = np.einsum("gn,gnd->d", p - p * relevant / p_relevant[:, None], x_all)
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
