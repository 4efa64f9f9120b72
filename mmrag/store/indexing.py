"""Which indexes the nodes table gets, when they are (re)built, and how far they cover it.

Every threshold and parameter of the vector index lives here, in one place; how they
were chosen (``benchmarks/scale.py --sweep``) and what they give is in docs/scaling.md.

Rows written after the last build are still found: LanceDB searches the fragments an
index does not cover by brute force and merges them in. ``mmrag ingest`` folds them into
the index (``optimize``) at the end of each run; an index trained on far fewer rows than
the table now holds (:data:`RETRAIN_GROWTH`) is rebuilt, since its partitions were sized
for the smaller table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from lancedb.index import FTS, Bitmap, BTree, IvfPq

#: Vectors a column needs before it gets an ANN index.
VECTOR_INDEX_MIN_ROWS = 100_000
#: Rebuild a vector index once its column holds this many times the rows it was trained on.
RETRAIN_GROWTH = 2.0
#: Rows per IVF partition the index aims for (num_partitions = rows / this).
ROWS_PER_PARTITION = 4_096
#: Bytes per vector in PQ codes: dim / this sub-vectors of 8 bits.
DIMS_PER_SUB_VECTOR = 8

#: Scalar and full-text indexes every nodes table has, whatever its size.
SCALAR_INDEXES: tuple[tuple[str, Any], ...] = (
    ("text", FTS(with_position=False)),
    ("id", BTree()),
    ("user", Bitmap()),
    ("kind", Bitmap()),
    ("source", BTree()),
)


@dataclass(frozen=True, slots=True)
class VectorSearchParams:
    """Query-time settings of a vector search; ``None`` leaves LanceDB's default."""

    nprobes: int | None = None
    refine_factor: int | None = None
    ef: int | None = None

    def apply(self, query: Any) -> Any:
        if self.nprobes is not None:
            query = query.nprobes(self.nprobes)
        if self.refine_factor is not None:
            query = query.refine_factor(self.refine_factor)
        if self.ef is not None:
            query = query.ef(self.ef)
        return query


#: What every vector search uses (ignored where a column has no index: exact search).
SEARCH = VectorSearchParams(nprobes=40, refine_factor=10)


def vector_index_config(rows: int, dim: int) -> Any | None:
    """The ANN index for a column of ``rows`` vectors of ``dim`` dimensions, or None.

    Example: ``vector_index_config(1_000_000, 384)`` is IVF_PQ with 244 partitions and
    48 sub-vectors.
    """
    if rows < VECTOR_INDEX_MIN_ROWS:
        return None
    sub_vectors = dim // DIMS_PER_SUB_VECTOR if dim % DIMS_PER_SUB_VECTOR == 0 else None
    return IvfPq(
        distance_type="cosine",
        num_partitions=max(1, math.ceil(rows / ROWS_PER_PARTITION)),
        num_sub_vectors=sub_vectors,
    )


def needs_retrain(rows: int, trained_rows: int | None) -> bool:
    """Has the column outgrown the index trained on ``trained_rows`` rows?"""
    return trained_rows is not None and rows >= RETRAIN_GROWTH * max(trained_rows, 1)


@dataclass(frozen=True, slots=True)
class IndexCoverage:
    """How much of the table one index covers."""

    name: str
    index_type: str
    columns: tuple[str, ...]
    indexed_rows: int
    unindexed_rows: int

    @property
    def fraction(self) -> float:
        total = self.indexed_rows + self.unindexed_rows
        return self.indexed_rows / total if total else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.index_type,
            "columns": list(self.columns),
            "indexed_rows": self.indexed_rows,
            "unindexed_rows": self.unindexed_rows,
        }


def coverage(table: Any) -> list[IndexCoverage]:
    """Indexed and unindexed rows of each index of ``table``."""
    found = []
    for ix in table.list_indices():
        stats = table.index_stats(ix.name)
        if stats is None:
            continue
        found.append(
            IndexCoverage(
                name=ix.name,
                index_type=str(ix.index_type),
                columns=tuple(ix.columns),
                indexed_rows=int(stats.num_indexed_rows),
                unindexed_rows=int(stats.num_unindexed_rows),
            )
        )
    return found
