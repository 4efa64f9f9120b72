"""What ``mmrag stats`` and :meth:`mmrag.RAG.stats` report about a store.

Kept apart from the API class: the CLI caches these figures between runs
(:mod:`mmrag.store.summary`) and reads them back with :meth:`StoreStats.from_dict`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class StoreStats:
    uri: str
    pipeline: str
    text_embedder: str
    image_embedder: str | None
    files: int
    #: The second text embedder whose vectors the store keeps, if any.
    second_embedder: str | None = None
    #: Whether the store keeps its chunks' token vectors (``late_interaction``).
    token_vectors: bool = False
    nodes: dict[str, int] = field(default_factory=dict)
    version: int = 0
    indexes: list[str] = field(default_factory=list)
    #: Bytes on disk, every kept version included (None in object storage).
    size_bytes: int | None = None
    #: Bytes of data in the tables' latest versions.
    live_bytes: int | None = None
    #: Per index: name, type, columns, indexed_rows, unindexed_rows.
    index_coverage: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "pipeline": self.pipeline,
            "text_embedder": self.text_embedder,
            "image_embedder": self.image_embedder,
            "second_embedder": self.second_embedder,
            "token_vectors": self.token_vectors,
            "files": self.files,
            "nodes": self.nodes,
            "total_nodes": sum(self.nodes.values()),
            "version": self.version,
            "indexes": self.indexes,
            "size_bytes": self.size_bytes,
            "live_bytes": self.live_bytes,
            "index_coverage": self.index_coverage,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StoreStats:
        """The inverse of :meth:`to_dict` (derived or unknown keys are ignored)."""
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})
