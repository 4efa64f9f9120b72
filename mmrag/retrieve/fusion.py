"""Weighted reciprocal rank fusion (Cormack et al. 2009) of several ranked lists.

LanceDB's own hybrid query fuses one vector list with one full-text list, unweighted;
mmrag fuses per-modality lists (text vector, full text, image vector, later more) with
weights from the pipeline, so it does the arithmetic itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from mmrag.schema import NodeKind, ScoredNode

if TYPE_CHECKING:
    from mmrag.store import Hit


def reciprocal_rank_fusion(
    ranked: Mapping[str, Sequence[Hit]],
    *,
    weights: Mapping[str, float] | None = None,
    rrf_k: int = 60,
    limit: int | None = None,
) -> list[ScoredNode]:
    """Fuse ``ranked`` lists (retriever name -> hits, best first) into one ranking.

    Each item scores ``sum(weight / (rrf_k + rank))`` over the lists it appears in (rank
    from 1). An image and its text summary are one item (keyed by ``image_id``): found by
    its pixels and by its words, it scores for both, and appears once. Ties keep the
    order of first appearance.
    """
    fused: dict[str, ScoredNode] = {}
    for name, hits in ranked.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        if weight <= 0:
            continue
        for rank, hit in enumerate(hits, start=1):
            key = _fusion_key(hit)
            entry = fused.get(key)
            if entry is None:
                entry = fused[key] = ScoredNode(node=hit.node, score=0.0)
            elif name in entry.scores:
                continue  # the image's other node already counted in this list
            entry.score += weight / (rrf_k + rank)
            entry.scores[name] = {"rank": float(rank), "score": hit.score}
    ordered = sorted(fused.values(), key=lambda s: s.score, reverse=True)
    return ordered[:limit] if limit is not None else ordered


def _fusion_key(hit: Hit) -> str:
    node = hit.node
    if node.image_id and node.kind in (NodeKind.IMAGE, NodeKind.IMAGE_SUMMARY):
        return f"image:{node.user}:{node.source}:{node.image_id}"
    return node.id
