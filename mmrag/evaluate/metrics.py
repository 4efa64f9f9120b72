"""Retrieval metrics at the level the gold gives, and bootstrap confidence intervals."""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Sequence

KS = (1, 3, 5, 10)


def retrieval_metrics(
    ranked: Sequence[Hashable], gold: set[Hashable], ks: Sequence[int] = KS
) -> dict[str, float]:
    """hit@k, recall@k, nDCG@k and MRR of one ranking against a set of gold keys.

    Duplicate keys in ``ranked`` count once (the first time they appear).
    """
    seen: list[Hashable] = []
    for key in ranked:
        if key not in seen:
            seen.append(key)
    relevant = [key in gold for key in seen]
    out: dict[str, float] = {}
    for k in ks:
        top = relevant[:k]
        out[f"hit@{k}"] = float(any(top))
        out[f"recall@{k}"] = sum(top) / len(gold) if gold else 0.0
        dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(top) if r)
        ideal = sum(1.0 / math.log2(i + 2) for i in range(min(k, len(gold))))
        out[f"ndcg@{k}"] = dcg / ideal if ideal else 0.0
    first = next((i for i, r in enumerate(relevant, start=1) if r), None)
    out["mrr"] = 1.0 / first if first else 0.0
    return out


def bootstrap_ci(
    values: Sequence[float], *, resamples: int = 1000, level: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean."""
    if not values:
        return (math.nan, math.nan)
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    low = means[int((1 - level) / 2 * resamples)]
    high = means[min(resamples - 1, int((1 + level) / 2 * resamples))]
    return (low, high)


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else math.nan


def with_ci(values: Sequence[float]) -> dict[str, float | int]:
    """Mean, 95% bootstrap interval and count, rounded for reports."""
    low, high = bootstrap_ci(values)
    return {
        "mean": round(mean(values), 4),
        "low": round(low, 4),
        "high": round(high, 4),
        "n": len(values),
    }
