"""How likely an image the map finds is the one a query describes: a calibration of the
map's cosine into P(relevant), fitted on captions of photos the map was not fitted on.

The pipeline's relevancy score was fitted on document questions and gives image
similarity no weight, so without this the map's candidates are ordered by weak text
signals. The map's cosine alone is no probability either: its level moves with the query
(the stored features are not centred, and ``|M q|`` varies), so it is first turned into a
z-score against the distribution of all images' cosines for that query. The mean and
variance of that distribution follow from the image features' mean ``mu`` and covariance
``C`` without reading the images again: for ``v = M q``, they are ``(M'mu) . q / |v|``
and ``q' (M'CM) q / |v|^2``, so the calibration keeps ``M'mu`` and ``M'CM`` (text-sized).

The z-score's log likelihood ratio (gold image against other images) is a logistic fit,
quadratic in z, on held-out folds grouped by image: each fold's map never saw the photos
whose captions are scored, so the probabilities describe photos the user has not
captioned. Each caption is scored against its fold's images; the fit's known offset
``-log(distractors)`` leaves the likelihood ratio free of the fold's size, and a search
over ``pool`` images then has ``P = sigmoid(llr(z) - log(pool - 1))``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mmrag.align.fit import Pairs, fit_one

logger = logging.getLogger(__name__)

#: Distractors scored per held-out caption: enough for the tail that matters; the offset
#: in the fit accounts for sampling, so large stores cost no more than this.
MAX_DISTRACTORS = 256


@dataclass(slots=True)
class MapCalibration:
    """``P(relevant) = sigmoid(llr(z) - log(pool - 1))``, ``llr(z) = a + b z + c z^2``.

    Example::

        p = calibration.probabilities(caption_vector, align_map.matrix, cosines)
    """

    coef: tuple[float, float, float]  # a, b, c of the log likelihood ratio in z
    pool: int  # images a search goes through (the namespace's, when fitted)
    mean_dir: np.ndarray  # M' mu, text_dim
    spread: np.ndarray  # M' C M, text_dim x text_dim
    info: dict[str, Any] = field(default_factory=dict)

    def probabilities(
        self, text_vector: np.ndarray, matrix: np.ndarray, cosines: np.ndarray
    ) -> np.ndarray:
        """P(relevant) of images whose cosine with the mapped query is ``cosines``."""
        q = np.asarray(text_vector, dtype=np.float64)
        scale = float(np.linalg.norm(matrix.astype(np.float64) @ q))
        sd = float(np.sqrt(max(q @ self.spread @ q, 0.0)))
        if scale == 0 or sd == 0:
            return np.zeros(len(cosines))
        z = (np.asarray(cosines, dtype=np.float64) * scale - float(self.mean_dir @ q)) / sd
        logits = self.log_ratio(z) - np.log(max(self.pool - 1, 1))
        out: np.ndarray = np.exp(-np.logaddexp(0.0, -logits))
        return out

    def log_ratio(self, z: np.ndarray) -> np.ndarray:
        """The fitted log likelihood ratio, made non-decreasing in z: a closer match can't
        be less likely the one searched, so past the quadratic's turning point it is held
        at its value there (a quadratic fit bends down where gold images thin out)."""
        a, b, c = self.coef
        if c != 0:
            turn = -b / (2 * c)
            z = np.minimum(z, turn) if c < 0 else np.maximum(z, turn)
        out: np.ndarray = a + b * z + c * z * z
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"coef": list(self.coef), "pool": self.pool, "info": self.info}

    def stats_bytes(self) -> bytes:
        """``M'mu`` then ``M'CM``, float32 little-endian."""
        both = np.concatenate([self.mean_dir.ravel(), self.spread.ravel()])
        return np.ascontiguousarray(both, dtype="<f4").tobytes()

    @classmethod
    def restore(cls, data: dict[str, Any], stats: bytes, text_dim: int) -> MapCalibration:
        values = np.frombuffer(stats, dtype="<f4").astype(np.float64)
        a, b, c = (float(v) for v in data["coef"])
        return cls(
            coef=(a, b, c),
            pool=int(data["pool"]),
            mean_dir=values[:text_dim],
            spread=values[text_dim:].reshape(text_dim, text_dim),
            info=dict(data.get("info", {})),
        )


def fit_calibration(
    pairs: Pairs,
    matrix: np.ndarray,
    method: str,
    regularisation: float,
    *,
    pool: int | None = None,
    folds: int = 5,
    seed: int = 0,
) -> MapCalibration | None:
    """Calibrate ``matrix`` (fitted on all ``pairs`` with ``method``/``regularisation``)
    from folds of ``pairs`` grouped by image; None when the pairs are too few to hold
    any out (fewer than 4 images, or no caption whose fold has other images).

    ``pool``: how many images searches go through (default: the images in ``pairs``).
    """
    n_images = len(pairs.features)
    if n_images < 4:
        return None
    features = pairs.features.astype(np.float64)
    mean, cov = features.mean(axis=0), np.cov(features, rowvar=False)
    folds = max(2, min(folds, n_images))
    rng = np.random.default_rng(seed)
    order = rng.permutation(n_images)
    z_all, labels, offsets = [], [], []
    for fold in range(folds):
        held = order[fold::folds]
        fitted_on = np.setdiff1d(order, held)
        fold_map = fit_one(pairs.subset(fitted_on), method, regularisation, seed).astype(np.float64)
        searched = pairs.subset(held)
        if len(searched.texts) == 0 or len(searched.features) < 2:
            continue
        z = _zscores(fold_map, searched, mean, cov)
        for row, gold in enumerate(searched.images):
            others = np.flatnonzero(np.arange(len(searched.features)) != gold)
            if len(others) > MAX_DISTRACTORS:
                others = rng.choice(others, MAX_DISTRACTORS, replace=False)
            z_all.append(np.concatenate([[z[row, gold]], z[row, others]]))
            labels.append(np.concatenate([[1.0], np.zeros(len(others))]))
            offsets.append(np.full(len(others) + 1, -np.log(len(others))))
    if not z_all:
        return None
    coef = _logistic(np.concatenate(z_all), np.concatenate(labels), np.concatenate(offsets))
    logger.info("map calibration: llr(z) = %.3f + %.3f z + %.3f z^2", *coef)
    return MapCalibration(
        coef=coef,
        pool=pool or n_images,
        mean_dir=matrix.astype(np.float64).T @ mean,
        spread=matrix.astype(np.float64).T @ cov @ matrix.astype(np.float64),
        info={"folds": folds, "captions": len(labels), "method": method},
    )


def _zscores(matrix: np.ndarray, pairs: Pairs, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """Captions x images: each cosine as a z-score among all images' cosines for that
    caption (the same arithmetic as :meth:`MapCalibration.probabilities`)."""
    mapped = pairs.texts.astype(np.float64) @ matrix.T
    mapped /= np.maximum(np.linalg.norm(mapped, axis=1, keepdims=True), 1e-12)
    cosines = mapped @ pairs.features.astype(np.float64).T
    centre = mapped @ mean
    sd = np.sqrt(np.maximum(np.einsum("ij,jk,ik->i", mapped, cov, mapped), 1e-12))
    out: np.ndarray = (cosines - centre[:, None]) / sd[:, None]
    return out


def _logistic(
    z: np.ndarray, y: np.ndarray, offset: np.ndarray, *, l2: float = 1e-3, steps: int = 100
) -> tuple[float, float, float]:
    """(a, b, c) maximising the likelihood of ``y`` under
    ``sigmoid(a + b z + c z^2 + offset)``: Newton steps, three parameters."""
    x = np.stack([np.ones_like(z), z, z * z], axis=1)

    def loss(w: np.ndarray) -> float:
        logits = x @ w + offset
        return float(np.sum(np.logaddexp(0.0, logits) - y * logits) + 0.5 * l2 * (w @ w))

    # Start from the base rate; halve steps that do not lower the loss (plain Newton can
    # overshoot from a flat start when the positives are this rare).
    w = np.array([np.log(y.mean() / (1 - y.mean())) - offset.mean(), 0.0, 0.0])
    current = loss(w)
    for _ in range(steps):
        p = np.exp(-np.logaddexp(0.0, -(x @ w + offset)))
        grad = x.T @ (y - p) - l2 * w
        hessian = (x * (p * (1 - p))[:, None]).T @ x + l2 * np.eye(3)
        step = np.linalg.solve(hessian, grad)
        while loss(w + step) > current and float(np.abs(step).max()) > 1e-10:
            step /= 2
        w, before, current = w + step, current, loss(w + step)
        if before - current < 1e-9 * max(1.0, abs(before)):
            break
    return float(w[0]), float(w[1]), float(w[2])
