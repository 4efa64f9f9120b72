"""Fitting a linear map between image features and the text-embedding space.

The map ``M`` (image_dim x text_dim) scores an (image, caption) pair as ``f . (M q)``:
``f`` the image's stored (L2-normalised) features, ``q`` the caption's text embedding.
Scoring through the query side is what lets the store use it without a new column: the
query's ``M q``, searched by cosine against the image vectors already indexed, ranks
images exactly as the score does (``f`` has unit length, and ``|M q|`` is one number per
query). As in LiT, both towers stay frozen; only ``M`` is learned.

Two fits, picked by cross-validation grouped by image (captions of one image are never
both fitted on and scored), inside the pairs given: ridge regression from caption to
image features (closed form), and a bilinear map trained with the InfoNCE loss
(caption -> image among the batch's images), which needs torch.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

logger = logging.getLogger(__name__)

RIDGE_LAMBDAS = (0.3, 1.0, 3.0, 10.0, 30.0)
CONTRASTIVE_DECAYS = (1e-4, 1e-3, 1e-2)


@dataclass(slots=True)
class Pairs:
    """Caption pairs: ``texts[i]`` describes image ``images[i]`` (a row of ``features``)."""

    features: np.ndarray  # one row per distinct image
    texts: np.ndarray  # one row per caption, text-embedding space
    images: np.ndarray  # row of ``features`` each caption describes

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.images):
            raise ValueError("one image index per caption")

    def subset(self, keep_images: np.ndarray) -> Pairs:
        """The captions of the images in ``keep_images``, images renumbered."""
        keep_images = np.asarray(sorted(set(keep_images.tolist())), dtype=np.int64)
        renumber = np.full(len(self.features), -1, dtype=np.int64)
        renumber[keep_images] = np.arange(len(keep_images))
        rows = renumber[self.images] >= 0
        return Pairs(self.features[keep_images], self.texts[rows], renumber[self.images[rows]])


@dataclass(slots=True)
class Fitted:
    """A fitted map and how its candidates did in cross-validation (hit@5 by name)."""

    matrix: np.ndarray  # image_dim x text_dim
    method: str
    regularisation: float
    cv: dict[str, float] = field(default_factory=dict)


def fit(
    pairs: Pairs,
    *,
    methods: Sequence[str] = ("ridge", "contrastive"),
    folds: int = 5,
    seed: int = 0,
) -> Fitted:
    """The best of ``methods`` x regularisations by grouped cross-validated hit@5,
    refitted on all ``pairs``.

    Example::

        fitted = fit(Pairs(features, caption_vectors, image_of_caption))
        query_side = fitted.matrix @ caption_vector  # search image vectors with this
    """
    candidates = [(m, r) for m in methods for r in _grid(m)]
    n_images = len(pairs.features)
    folds = max(2, min(folds, n_images))
    order = np.random.default_rng(seed).permutation(n_images)
    cv: dict[str, float] = {}
    if n_images >= 4:
        for method, reg in candidates:
            scores = []
            for fold in range(folds):
                held = order[fold::folds]
                fitted_on = np.setdiff1d(order, held)
                matrix = fit_one(pairs.subset(fitted_on), method, reg, seed)
                scores.append(hit_rates(matrix, pairs.subset(held), ks=(5,))["hit@5"])
            cv[f"{method}:{reg:g}"] = float(np.mean(scores))
            logger.info("cv %s %g: hit@5 %.3f", method, reg, cv[f"{method}:{reg:g}"])
        best = max(candidates, key=lambda c: cv[f"{c[0]}:{c[1]:g}"])
    else:
        best = candidates[0]
    return Fitted(fit_one(pairs, *best, seed), best[0], best[1], cv)


def hit_rates(matrix: np.ndarray, pairs: Pairs, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Share of captions whose image ranks in the top k among ``pairs``' images."""
    scores = (pairs.texts @ matrix.T) @ pairs.features.T  # captions x images
    gold = scores[np.arange(len(pairs.images)), pairs.images]
    rank = (scores > gold[:, None]).sum(axis=1)  # images strictly better than the gold
    return {f"hit@{k}": float(np.mean(rank < k)) if len(rank) else 0.0 for k in ks}


def _grid(method: str) -> tuple[float, ...]:
    if method == "ridge":
        return RIDGE_LAMBDAS
    if method == "contrastive":
        return CONTRASTIVE_DECAYS
    raise ValueError(f"unknown fitting method '{method}' (ridge, contrastive)")


def fit_one(pairs: Pairs, method: str, reg: float, seed: int) -> np.ndarray:
    """One map, fitted with ``method`` at regularisation ``reg`` on all ``pairs``."""
    if method == "ridge":
        return fit_ridge(pairs, reg)
    return fit_contrastive(pairs, reg, seed=seed)


def fit_ridge(pairs: Pairs, lam: float) -> np.ndarray:
    """Ridge regression of each caption's (centred) image features on the caption.

    Predicting the image from the caption (not the caption from the image) leaves the
    map's output in the image space, where it is searched. Centring removes the features'
    common direction, which every image shares and which would otherwise dominate.
    """
    targets = pairs.features[pairs.images]
    targets = targets - pairs.features.mean(axis=0)
    q = pairs.texts
    gram = q.T @ q + lam * np.eye(q.shape[1], dtype=q.dtype)
    solved = np.linalg.solve(gram.astype(np.float64), (q.T @ targets).astype(np.float64))
    return np.ascontiguousarray(solved.T, dtype=np.float32)


def fit_contrastive(
    pairs: Pairs, decay: float, *, seed: int = 0, steps: int = 300, lr: float = 1e-3
) -> np.ndarray:
    """A bilinear map trained with InfoNCE: each caption must pick its image out of all
    the images fitted on (full batch; a few hundred Adam steps on CPU). Starts from the
    ridge map, so it can only refine what regression already finds."""
    from mmrag.models.deps import require

    torch = require("torch", extra="local", purpose="fitting the alignment map contrastively")
    torch.manual_seed(seed)  # full batch from the ridge start: only float order varies
    start = fit_ridge(pairs, RIDGE_LAMBDAS[len(RIDGE_LAMBDAS) // 2])
    matrix = torch.nn.Parameter(torch.from_numpy(start.copy()))
    log_scale = torch.nn.Parameter(torch.tensor(np.log(10.0), dtype=torch.float32))
    features = torch.from_numpy(pairs.features - pairs.features.mean(axis=0))
    texts = torch.from_numpy(np.ascontiguousarray(pairs.texts))
    target = torch.from_numpy(pairs.images)
    optimiser = torch.optim.AdamW([matrix, log_scale], lr=lr, weight_decay=0.0)
    for _ in range(steps):
        optimiser.zero_grad()
        query = texts @ matrix.T
        query = query / query.norm(dim=1, keepdim=True).clamp_min(1e-6)
        logits = log_scale.exp() * (query @ features.T)
        loss = torch.nn.functional.cross_entropy(logits, target) + decay * matrix.pow(2).sum()
        loss.backward()
        optimiser.step()
    fitted: np.ndarray = matrix.detach().numpy().astype(np.float32)
    return fitted
