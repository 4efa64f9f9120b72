"""Text -> image search without CLIP: a map, learned from the user's own captioned images,
from the text-embedding space into the image-feature space (``mmrag align``)."""

from __future__ import annotations

from mmrag.align.fit import Fitted, Pairs, fit, hit_rates
from mmrag.align.pairs import CaptionPairs, collect_pairs
from mmrag.align.storage import AlignMap, load_map, save_map
from mmrag.align.workflow import EvalReport, FitReport, evaluate_store, fit_store

__all__ = [
    "AlignMap",
    "CaptionPairs",
    "EvalReport",
    "FitReport",
    "Fitted",
    "Pairs",
    "collect_pairs",
    "evaluate_store",
    "fit",
    "fit_store",
    "hit_rates",
    "load_map",
    "save_map",
]
