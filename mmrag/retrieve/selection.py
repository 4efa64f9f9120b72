"""Choosing the context from scored candidates: page diversity, neighbours, adaptive k.

Adaptive k (Mortaheb et al. 2025): sort by relevancy score and keep the items worth
their place, at least ``k_min`` and at most ``k_max`` of them — fewer irrelevant items
than a fixed k, so fewer chances for the generator to go astray. Two rules decide which:

- ``marginal`` (default): keep an item while the chance that it is the *first* relevant
  one, ``p_i * prod_{j<i} (1 - p_j)``, reaches tau. After a likely hit the next items
  add little, so a confident question gets a short context; when no item is likely, the
  chance of a hit is spread out and more items are kept. This is what maximises the
  share of questions with a relevant item for a given mean context size, when the
  scores are calibrated probabilities.
- ``threshold``: keep items whose score reaches tau and ``relative`` x the best score.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Literal

import numpy as np

from mmrag.schema import NodeKind, ScoredNode

AdaptiveRule = Literal["marginal", "threshold"]


def adaptive_k(
    items: Sequence[ScoredNode],
    *,
    tau: float,
    k_min: int,
    k_max: int,
    relative: float = 0.0,
    rule: AdaptiveRule = "marginal",
) -> list[ScoredNode]:
    """The first items (sorted best first) that ``rule`` keeps, clamped to
    ``[k_min, k_max]``."""
    if not items:
        return []
    scores = np.array([item.score for item in items])
    keep = kept_counts(
        scores, np.array([tau]), rule=rule, relative=relative, k_min=k_min, k_max=k_max
    )
    return list(items[: int(keep[0])])


def kept_counts(
    scores: np.ndarray,
    taus: np.ndarray,
    *,
    rule: AdaptiveRule = "marginal",
    relative: float,
    k_min: int,
    k_max: int,
) -> np.ndarray:
    """How many of ``scores`` (in list order) adaptive k keeps, for each bar in ``taus``.

    The one statement of the rules (module docstring): at least ``k_min`` items, at most
    ``k_max``, never more than there are. Vectorised over ``taus`` because tuning tries
    a hundred of them per question."""
    if rule == "marginal":
        survival = np.concatenate([[1.0], np.cumprod(1.0 - scores)[:-1]])
        values, bars = scores * survival, taus
    else:
        values = scores
        bars = np.maximum(taus, relative * (scores.max() if len(scores) else 0.0))
    # As many items as reach the bar (on a list sorted by score, exactly those): a list
    # re-ranked by an MLLM judge keeps its order, the score still says how many.
    reach = (values[None, :] >= bars[:, None]).sum(axis=1)
    counts: np.ndarray = np.minimum(np.clip(reach, k_min, k_max), len(scores))
    return counts


def limit_per_page(items: Sequence[ScoredNode], max_per_page: int) -> list[ScoredNode]:
    """At most ``max_per_page`` text chunks from any one page (0: no limit), order kept.

    Images are not counted: a chart and the paragraph about it say different things.
    """
    if max_per_page <= 0:
        return list(items)
    seen: Counter[tuple[str, int]] = Counter()
    kept = []
    for item in items:
        if item.node.page is None or item.node.kind != NodeKind.TEXT:
            kept.append(item)
            continue
        key = (item.node.source, item.node.page)
        if seen[key] < max_per_page:
            seen[key] += 1
            kept.append(item)
    return kept


def with_page_text(
    items: Sequence[ScoredNode], page_text: dict[tuple[str, int], ScoredNode]
) -> list[ScoredNode]:
    """After each image without its page's text in the list, that page's best text item.

    A chart found by its pixels or its OCR'd labels is read with its caption and the
    paragraph that discusses it; the neighbour scores just below the image.
    """
    present = {(i.node.source, i.node.page) for i in items if i.node.kind == NodeKind.TEXT}
    out: list[ScoredNode] = []
    for item in items:
        out.append(item)
        key = (item.node.source, item.node.page)
        if (
            item.node.kind in (NodeKind.IMAGE, NodeKind.IMAGE_SUMMARY)
            and item.node.page is not None
            and key not in present
            and key in page_text
        ):
            neighbour = page_text[key]
            out.append(
                ScoredNode(
                    neighbour.node,
                    item.score * 0.99,
                    {**neighbour.scores, "neighbour_of": {"rank": 0.0, "score": item.score}},
                )
            )
            present.add(key)
    return out


def best_similarity(items: Sequence[ScoredNode]) -> float | None:
    """The highest text-vector cosine among ``items``; None when none came from the text
    vector search (an image-only query, a BM25-only hit list)."""
    found = [i.scores["text_vector"]["score"] for i in items if "text_vector" in i.scores]
    return max(found) if found else None


def too_far(items: Sequence[ScoredNode], min_similarity: float) -> bool:
    """Is nothing in ``items`` within ``min_similarity`` (cosine) of the query? What makes
    ``ask`` refuse an off-topic question up front. 0 turns the check off: a hashing
    embedder's cosines can be negative."""
    best = best_similarity(items)
    return min_similarity > 0 and best is not None and best < min_similarity
