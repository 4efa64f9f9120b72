"""Which indexes the store's tables get, when they are (re)built, and how far they cover it.

Every threshold and parameter of the vector index lives here, in one place; how they
were chosen (``benchmarks/scale.py --sweep`` at 100k nodes on this project's 2-core
machine) is in docs/scaling.md. In short, bare vector search at 100k rows:

- exact (no index): p50 91 ms, 120 ms with a user filter;
- IVF_PQ, LanceDB defaults: 18 ms but recall@10 0.21 (0.21 at nprobes 50 too: the PQ
  codes, not the probes, lose the neighbours); 48 sub-vectors and refine factor 10:
  recall 0.999 at 32 ms, built in 178 s;
- IVF_SQ, 24 partitions, refine 5: recall 1.0 at 31 ms p50 / 41 ms p95, built in 14 s;
- IVF_HNSW_SQ: recall 0.987 at 14 ms (ef 64 and 150 alike), and with refine factor 5
  recall 1.0 at 17 ms p50 / 23-30 ms p95, built in 68 s. Chosen: the only candidate
  well inside the 50 ms budget that retrieval also needs for BM25 and scoring.

Rows written after the last build are still found: LanceDB searches the fragments an
index does not cover by brute force and merges them in. ``mmrag ingest`` folds them into
the index (``optimize``) at the end of each run; an index trained on far fewer rows than
the column now holds (:data:`RETRAIN_GROWTH`) is rebuilt, since its partitions and
quantiser were fitted to the smaller table.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from lancedb.index import FTS, Bitmap, BTree, IvfHnswSq

logger = logging.getLogger(__name__)

#: Vectors a column needs before it gets an ANN index. Exact search costs about 0.8 ms
#: per 1,000 rows plus ~12 ms (19 ms at 5k rows, 91 ms at 100k): past ~20k rows that is
#: twice what the HNSW index takes at 100k, and the build takes seconds.
VECTOR_INDEX_MIN_ROWS = 20_000
#: Rebuild a vector index once its column holds this many times the rows it was trained on.
RETRAIN_GROWTH = 2.0
#: Vectors per IVF partition, each holding one HNSW graph: one graph up to a million rows
#: (LanceDB's own target), so that a query walks one graph, not several. Measured at 200k
#: vectors: 2 and 4 partitions built no faster (90 s, 79 s against 86 s) and were searched
#: slower (p50 22-27 ms against 20 ms) at the same recall.
ROWS_PER_PARTITION = 1_000_000

#: The indexes every searched table has whatever its size: what filters and merges by id
#: read. The nodes table adds the full-text index.
_FILTER_INDEXES: tuple[tuple[str, Any], ...] = (
    ("id", BTree()),
    ("user", Bitmap()),
    ("kind", Bitmap()),
    ("source", BTree()),
)
SCALAR_INDEXES: tuple[tuple[str, Any], ...] = (("text", FTS(with_position=False)), *_FILTER_INDEXES)
IMAGE_VECTOR_SCALAR_INDEXES = _FILTER_INDEXES


@dataclass(frozen=True, slots=True)
class VectorSearchParams:
    """Query-time settings of a vector search; ``None`` leaves LanceDB's default."""

    nprobes: int | None = None
    refine_factor: int | None = None
    ef: int | None = None

    def apply(self, query: Any, limit: int) -> Any:
        """``query`` (a LanceDB vector query for ``limit`` rows) with these settings."""
        if self.nprobes is not None:
            query = query.nprobes(self.nprobes)
        if self.refine_factor is not None:
            query = query.refine_factor(self.refine_factor)
        if self.ef is not None:
            # HNSW must keep at least as many candidates as the refine step re-ranks.
            query = query.ef(max(self.ef, limit * (self.refine_factor or 1)))
        return query


#: What every vector search uses (ignored where a column has no index: exact search).
#: ef 150 >= the retriever's 50 candidates; refine 5 re-ranks 5x the limit by the full
#: vectors, which lifts recall@10 from 0.987 to 1.0 for ~3 ms at 100k rows. nprobes
#: covers every partition up to 20M rows.
SEARCH = VectorSearchParams(nprobes=20, refine_factor=5, ef=150)


def vector_index_config(rows: int, dim: int) -> Any | None:
    """The ANN index for a column of ``rows`` vectors of ``dim`` dimensions, or None.

    Example: ``vector_index_config(1_000_000, 384)`` is IVF_HNSW_SQ with one partition.
    """
    if rows < VECTOR_INDEX_MIN_ROWS:
        return None
    return IvfHnswSq(
        distance_type="cosine", num_partitions=max(1, math.ceil(rows / ROWS_PER_PARTITION))
    )


def needs_retrain(rows: int, trained_rows: int | None) -> bool:
    """Has the column outgrown the index trained on ``trained_rows`` rows?"""
    return trained_rows is not None and rows >= RETRAIN_GROWTH * max(trained_rows, 1)


@dataclass(frozen=True, slots=True)
class WantedIndex:
    """An index to build: its column, its LanceDB config, and for an ANN index the
    vectors the column holds (what the index is trained on)."""

    column: str
    config: Any
    vectors: int | None = None


def wanted_indexes(
    table: Any,
    scalar: tuple[tuple[str, Any], ...],
    trained: dict[str, int],
    *,
    retrain: bool = False,
) -> list[WantedIndex]:
    """The indexes ``table`` should have and does not, in the order to build them: the
    ``scalar`` ones, then an ANN index per vector column grown past the threshold
    (rebuilt once the column has outgrown the ``trained`` rows it was built on)."""
    existing = {tuple(ix.columns) for ix in table.list_indices()}
    wanted = [WantedIndex(c, config) for c, config in scalar if (c,) not in existing]
    for column in ("text_vector", "image_vector"):
        if column not in table.schema.names:
            continue
        rows = table.count_rows(f"{column} IS NOT NULL")
        config = vector_index_config(rows, table.schema.field(column).type.list_size)
        if config is None:
            continue
        if retrain or needs_retrain(rows, trained.get(column)) or (column,) not in existing:
            wanted.append(WantedIndex(column, config, rows))
    return wanted


def build_indexes(table: Any, wanted: list[WantedIndex]) -> dict[str, int]:
    """Build ``wanted`` on ``table``; the vectors each ANN index was trained on."""
    trained: dict[str, int] = {}
    for index in wanted:
        if index.vectors is None:
            table.create_index(index.column, config=index.config)
            continue
        logger.info("building ANN index on %s (%d vectors)", index.column, index.vectors)
        table.create_index(index.column, config=index.config, replace=True)
        trained[index.column] = index.vectors
    return trained


@dataclass(frozen=True, slots=True)
class IndexCoverage:
    """How much of its table one index covers."""

    table: str
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
            "table": self.table,
            "name": self.name,
            "type": self.index_type,
            "columns": list(self.columns),
            "indexed_rows": self.indexed_rows,
            "unindexed_rows": self.unindexed_rows,
        }


def coverage(table: Any, *, table_name: str) -> list[IndexCoverage]:
    """Indexed and unindexed rows of each index of ``table`` (named ``table_name``)."""
    found = []
    for ix in table.list_indices():
        stats = table.index_stats(ix.name)
        if stats is None:
            continue
        found.append(
            IndexCoverage(
                table=table_name,
                name=ix.name,
                index_type=str(ix.index_type),
                columns=tuple(ix.columns),
                indexed_rows=int(stats.num_indexed_rows),
                unindexed_rows=int(stats.num_unindexed_rows),
            )
        )
    return found
