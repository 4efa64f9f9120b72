"""``mmrag align fit`` and ``mmrag align eval`` as functions: collect caption pairs from a
store, fit the map (and store it), or measure it on photos it was not fitted on."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mmrag.align.calibrate import fit_calibration
from mmrag.align.fit import Pairs, fit, hit_rates
from mmrag.align.pairs import CaptionPairs, collect_pairs
from mmrag.align.storage import AlignMap, save_map
from mmrag.components import Components
from mmrag.errors import ConfigError
from mmrag.store import Store

logger = logging.getLogger(__name__)

DEFAULT_METHODS = ("ridge", "contrastive")


@dataclass(slots=True)
class FitReport:
    images: int
    pairs: int
    found: dict[str, int]
    unmatched: int
    method: str
    regularisation: float
    cv: dict[str, float]
    #: The map's cosine -> P(relevant) fit (coefficients, pool), or None: too few images.
    calibration: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "pairs": self.pairs,
            "found": self.found,
            "unmatched_caption_rows": self.unmatched,
            "method": self.method,
            "regularisation": self.regularisation,
            "cv_hit@5": self.cv,
            "calibration": self.calibration,
        }


@dataclass(slots=True)
class EvalReport:
    """Caption -> photo hit@k on held-out photos, mean and sd over random splits."""

    images: int
    pairs: int
    holdout: float
    splits: int
    held_images: int
    held_captions: int
    hits: dict[str, float]
    hits_sd: dict[str, float]
    chance: dict[str, float]
    methods: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "images": self.images,
            "pairs": self.pairs,
            "split": f"by photo: {self.held_images} searched (held out), "
            f"{self.images - self.held_images} fitted on; {self.splits} random splits",
            "held_captions": self.held_captions,
            "hit": self.hits,
            "hit_sd": self.hits_sd,
            "chance": self.chance,
            "methods_chosen": self.methods,
        }


def caption_pairs(
    store: Store, components: Components, *, user: str | None, caption_files: Sequence[Path]
) -> tuple[CaptionPairs, Pairs]:
    """The user's caption pairs, and their vectors (captions embedded as queries are)."""
    if components.image_embedder is None:
        raise ConfigError(
            f"pipeline '{components.config.name}' has no image_embedder: there are no image "
            "features to align"
        )
    found = collect_pairs(store, user=user, caption_files=caption_files)
    texts = components.text_embedder.embed([c for _, c in found.captions], is_query=True)
    images = np.asarray([i for i, _ in found.captions], dtype=np.int64)
    return found, Pairs(found.features(), np.asarray(texts, dtype=np.float32), images)


def fit_store(
    store: Store,
    components: Components,
    *,
    user: str | None = None,
    caption_files: Sequence[Path] = (),
    methods: Sequence[str] = DEFAULT_METHODS,
) -> FitReport:
    """Fit the map on every caption pair, calibrate its cosine on held-out photos (so
    searches can rank its images by how likely they are relevant), and store both for
    ``user``'s searches."""
    found, pairs = caption_pairs(store, components, user=user, caption_files=caption_files)
    fitted = fit(pairs, methods=methods)
    # Searches go through every image of the namespace, captioned or not: all are in
    # ``pairs.features``, so the default pool is right.
    calibration = fit_calibration(pairs, fitted.matrix, fitted.method, fitted.regularisation)
    image, text = components.image_embedder, components.text_embedder
    assert image is not None  # caption_pairs checked
    report = FitReport(
        images=len(pairs.features),
        pairs=len(pairs.texts),
        found=found.found,
        unmatched=found.unmatched,
        method=fitted.method,
        regularisation=fitted.regularisation,
        cv=fitted.cv,
        calibration=calibration.to_dict() if calibration else None,
    )
    save_map(
        store,
        AlignMap(
            matrix=fitted.matrix,
            image_embedder=image.name,
            text_embedder=text.name,
            user=user or "",
            info=report.to_dict(),
            calibration=calibration,
        ),
    )
    return report


def evaluate_store(
    store: Store,
    components: Components,
    *,
    user: str | None = None,
    caption_files: Sequence[Path] = (),
    methods: Sequence[str] = DEFAULT_METHODS,
    holdout: float = 0.5,
    splits: int = 3,
    seed: int = 0,
) -> EvalReport:
    """Fit on the captions of some photos, search the others with theirs (split by photo,
    regularisation cross-validated inside the fitted photos only); nothing is stored."""
    if not 0 < holdout < 1:
        raise ConfigError("--holdout is the share of photos searched: between 0 and 1")
    _, pairs = caption_pairs(store, components, user=user, caption_files=caption_files)
    n = len(pairs.features)
    held_n = round(n * holdout)
    if held_n < 2 or n - held_n < 2:
        raise ConfigError(f"{n} captioned images are too few to hold some out: need at least 4")
    ks = (1, 5, 10)
    runs, chosen, held_captions = [], [], 0
    rng = np.random.default_rng(seed)
    for split in range(splits):
        order = rng.permutation(n)
        held, fitted_on = order[:held_n], order[held_n:]
        fitted = fit(pairs.subset(fitted_on), methods=methods, seed=seed + split)
        searched = pairs.subset(held)
        runs.append(hit_rates(fitted.matrix, searched, ks=ks))
        chosen.append(f"{fitted.method}:{fitted.regularisation:g}")
        held_captions = len(searched.texts)
    keys = [f"hit@{k}" for k in ks]
    return EvalReport(
        images=n,
        pairs=len(pairs.texts),
        holdout=holdout,
        splits=splits,
        held_images=held_n,
        held_captions=held_captions,
        hits={k: round(float(np.mean([r[k] for r in runs])), 4) for k in keys},
        hits_sd={k: round(float(np.std([r[k] for r in runs])), 4) for k in keys},
        chance={f"hit@{k}": round(min(1.0, k / held_n), 4) for k in ks},
        methods=chosen,
    )
