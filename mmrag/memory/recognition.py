"""Deciding whether a photo shows one of the user's concepts: a claim calibrated per concept.

A concept's score for a query is its best cosine similarity over the query's crops and
the concept's photos. That best-of rises with every photo enrolled, and it is high for
any photo of the same kind of thing, so one fixed threshold claims too little for a
1-photo concept and too much for a 10-photo one. Instead each concept gets its own
*null*: the scores that photos which are *not* the concept reach against its photos —
the user's photos of their other concepts plus a small generic set of natural photos
shipped in an installed package. The null is computed with the same best-of over the
concept's photos, so it rises with the photo count exactly as the query's score does.
A concept is claimed when its score clears the null's top by ``margin``, and, when it
has several photos, also clears ``self_weight`` of the way from the null to how alike
its own photos are (:func:`claim_floor`; the constants and how they were measured are
in ``MemoryConfig``).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

logger = logging.getLogger(__name__)

#: Natural photos that ship with scikit-learn (a dependency of sentence-transformers):
#: with :func:`generated_negatives`, a generic "not the user's thing" set that needs no
#: download and no evaluation data.
_GENERIC_PHOTOS = ("datasets/images/china.jpg", "datasets/images/flower.jpg")


@dataclass(frozen=True, slots=True)
class ConceptScore:
    memory_id: str
    photo_id: str
    #: Best cosine similarity of any query crop to any of the concept's photos.
    similarity: float
    #: The best similarity any negative photo reaches against this concept's photos.
    null_top: float


def best_matches(
    queries: np.ndarray, photos: Sequence[tuple[str, str, np.ndarray]]
) -> dict[str, tuple[float, str]]:
    """Per concept, the best similarity of any query vector to its photos, and that photo."""
    if not photos or len(queries) == 0:
        return {}
    matrix = _unit(np.stack([vector for _, _, vector in photos]))
    sims = (_unit(queries) @ matrix.T).max(axis=0)
    best: dict[str, tuple[float, str]] = {}
    for (memory_id, photo_id, _), sim in zip(photos, sims, strict=True):
        if float(sim) > best.get(memory_id, (-2.0, ""))[0]:
            best[memory_id] = (float(sim), photo_id)
    return best


def null_tops(
    photos: Sequence[tuple[str, str, np.ndarray]], generic: np.ndarray
) -> dict[str, float]:
    """Per concept, the highest best-of similarity reached by a photo that is not it.

    The negatives are the user's photos of every other concept and ``generic``; with no
    negatives at all (one concept, no generic set) the null is -1 (nothing to beat)."""
    if not photos:
        return {}
    ids = np.array([memory_id for memory_id, _, _ in photos])
    matrix = _unit(np.stack([vector for _, _, vector in photos]))
    own_sims = matrix @ matrix.T
    generic_sims = (_unit(generic) @ matrix.T) if len(generic) else np.zeros((0, len(ids)))
    tops: dict[str, float] = {}
    for memory_id in dict.fromkeys(ids.tolist()):
        mine = ids == memory_id
        # Each negative's best-of over this concept's photos, as a query would score.
        parts = [own_sims[~mine][:, mine].max(axis=1), generic_sims[:, mine].max(axis=1)]
        values = np.concatenate(parts)
        tops[memory_id] = float(values.max()) if values.size else -1.0
    return tops


def self_similarity(photos: Sequence[tuple[str, str, np.ndarray]]) -> dict[str, float]:
    """Per concept with two or more photos, the mean best similarity of each photo to the
    concept's other photos: how alike its own views are (a leave-one-out positive)."""
    out: dict[str, float] = {}
    ids = np.array([memory_id for memory_id, _, _ in photos])
    if not photos:
        return out
    matrix = _unit(np.stack([vector for _, _, vector in photos]))
    for memory_id in dict.fromkeys(ids.tolist()):
        own = matrix[ids == memory_id]
        if len(own) < 2:
            continue
        sims = own @ own.T
        np.fill_diagonal(sims, -2.0)
        out[memory_id] = float(sims.max(axis=1).mean())
    return out


def claim_floor(
    null_top: float, margin: float, own: float | None = None, self_weight: float = 0.0
) -> float:
    """The similarity a query must reach to be claimed as a concept.

    At least ``margin`` above the concept's null; with several photos (``own`` is their
    leave-one-out similarity) also ``self_weight`` of the way from the null up to
    ``own``. The null only knows the user's other things, so a stranger of the same kind
    (another Shiba for the user's Shiba) can clear it; the concept's own consistency is
    what lets a 10-photo concept ask for more than a 1-photo one."""
    floor = null_top + margin
    if own is not None and self_weight > 0:
        floor = max(floor, null_top + self_weight * (own - null_top))
    return floor


def generic_negatives(
    embedder_name: str,
    embed: Callable[[Sequence[Image.Image]], np.ndarray],
    crops: Callable[[Image.Image], list[Image.Image]],
) -> np.ndarray:
    """Features of the generic negative photos and their crops, cached per embedder and
    cropper (the query side is cropped the same way, so the null sees the same views)."""
    cached = _GENERIC_CACHE.get(embedder_name)
    if cached is not None:
        return cached
    images: list[Image.Image] = list(generated_negatives())
    for path in _generic_paths():
        with Image.open(path) as picture:
            images.extend(crops(picture.convert("RGB")))
    if images:
        vectors = np.asarray(embed(images), dtype=np.float32)
    else:
        logger.warning("no generic negative photos found; calibrating on the user's own only")
        vectors = np.zeros((0, 0), dtype=np.float32)
    _GENERIC_CACHE[embedder_name] = vectors
    return vectors


_GENERIC_CACHE: dict[str, np.ndarray] = {}


def generated_negatives(count: int = 16, seed: int = 7) -> list[Image.Image]:
    """Flat graphics mmrag draws itself (seeded, so every run sees the same): a few random
    shapes on a plain background. Natural photos alone leave drawings, icons and logos
    with no null, so a drawn stranger could clear a drawn concept's floor."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        image = Image.new("RGB", (256, 256), _colour(rng))
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(1, 4))):
            x0, y0 = (int(v) for v in rng.integers(0, 160, 2))
            x1, y1 = x0 + int(rng.integers(40, 96)), y0 + int(rng.integers(40, 96))
            kind = int(rng.integers(0, 3))
            if kind == 0:
                draw.ellipse((x0, y0, x1, y1), fill=_colour(rng))
            elif kind == 1:
                draw.rectangle((x0, y0, x1, y1), fill=_colour(rng))
            else:
                draw.polygon([((x0 + x1) // 2, y0), (x1, y1), (x0, y1)], fill=_colour(rng))
        out.append(image)
    return out


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    red, green, blue = (int(v) for v in rng.integers(0, 256, 3))
    return red, green, blue


def _generic_paths() -> list[Path]:
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None:
        return []
    root = Path(spec.origin).parent
    return [root / rel for rel in _GENERIC_PHOTOS if (root / rel).is_file()]


def _unit(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    unit: np.ndarray = vectors / np.maximum(norms, 1e-12)
    return unit
