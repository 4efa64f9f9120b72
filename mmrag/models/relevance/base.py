"""The relevancy-score seam: a score in [0, 1] per (query, candidate), comparable across
queries and modalities, so that one threshold decides what enters the context."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from mmrag.registry import Registry
from mmrag.schema import ScoredNode

if TYPE_CHECKING:  # the store (LanceDB) loads only when something searches
    from mmrag.store import Hit
    from mmrag.store.documents import DocumentHit


@dataclass(slots=True)
class Candidates:
    """What candidate search found for one query: a ranked list per retriever, and the
    best-matching whole documents."""

    query: str | None
    lists: dict[str, list[Hit]] = field(default_factory=dict)
    documents: list[DocumentHit] = field(default_factory=list)
    #: P(relevant) of each ``text_image`` hit, in order, from a fitted text -> image map's
    #: own calibration (``mmrag align``); empty when no calibrated map found them.
    text_image_relevancy: list[float] = field(default_factory=list)
    #: Cosine of the query and each text candidate (by node id) under the pipeline's
    #: second text embedder, from the vectors stored at ingest; empty without one.
    second_similarity: dict[str, float] = field(default_factory=dict)
    #: Late-interaction similarity (MaxSim) of the query and each text candidate (by node
    #: id), from the token vectors stored at ingest; empty without them.
    late_similarity: dict[str, float] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return len({h.node.id for hits in self.lists.values() for h in hits})


@runtime_checkable
class RelevancyScorer(Protocol):
    @property
    def name(self) -> str: ...

    def score(self, candidates: Candidates, items: Sequence[ScoredNode]) -> list[float]:
        """RS in [0, 1] for each item, in order."""
        ...


relevancy_scorers: Registry[RelevancyScorer] = Registry("relevancy_scorers")


def item_text(item: ScoredNode, max_chars: int) -> str:
    """What a text scorer reads for an item (an image reads as its summary or caption)."""
    text = " ".join(item.node.text.split()) or "(image without description)"
    return text[:max_chars]
