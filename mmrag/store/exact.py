"""Exact vector search over an in-memory copy of a small nodes table.

Below :data:`~mmrag.store.indexing.VECTOR_INDEX_MIN_ROWS` a vector column has no ANN
index and LanceDB searches it exactly, reading and decoding the whole column on every
query: 17 ms at the dev store's 9,000 text vectors (384-d) on this project's 2-core
machine, a third of a whole retrieval. The same search over a copy held in memory takes
about 1 ms. So the store keeps such a copy of a small table — node columns and vectors,
~30 MB at 10k rows — for the table version it was read at, and answers vector searches
from it; a new version (a write here, or another process's once the connection's read
consistency interval lets LanceDB see it) is read again on the next search.

The filter stays LanceDB's: its rows are asked for once per filter and version (SQL
with the same semantics as LanceDB's own prefilter) and kept, which is also what lets
:meth:`ExactSearch.prepare` evaluate it on another thread while the query is embedded.

Results are LanceDB's: the rows the filter admits that have a vector, ranked by cosine
distance, nearest first, ties (identical vectors, as repeated headers or image
summaries have) in row-id order as LanceDB orders them. The distance is the same
float32 formula, summed in another order: it may differ from LanceDB's in the last bits
(1.8e-7 at most over 200 dev searches), so where two rows of the ranking, or the first
row past it, lie closer than that could tell apart (near-duplicate chunks do), the
search is left to LanceDB, and the ranking is LanceDB's own.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

logger = logging.getLogger(__name__)

#: Filters whose rows are kept per table version (each a bit per row).
FILTERS_KEPT = 256
#: Distances closer than this may rank the other way in LanceDB's float32 kernel (the
#: two differed by 1.8e-7 at most over 200 dev searches), so such rows, unless their
#: vectors are identical, are left to LanceDB: 8 of 190 dev searches (4%).
NEAR_TIE = 2e-6


@dataclass(frozen=True, slots=True)
class _Vectors:
    """One vector column of a snapshot: its non-null rows only."""

    #: Snapshot row of each vector.
    rows: np.ndarray
    matrix: np.ndarray
    norms: np.ndarray


@dataclass(slots=True)
class _Snapshot:
    version: int
    #: Each row's node columns, as LanceDB's ``to_list`` gives them (a list, not an
    #: Arrow table: taking 50 rows from the table cost 1.5 ms a search). ``None`` when
    #: the table is not searched from memory at this version: LanceDB searches it.
    nodes: list[dict[str, Any]] | None = None
    row_ids: np.ndarray | None = None
    vectors: dict[str, _Vectors] | None = None


class ExactSearch:
    """The in-memory copy of one nodes table, and exact search over it.

    ``max_rows`` (0 turns the copy off) bounds the tables it copies; columns with an
    ANN index are never searched here.
    """

    def __init__(self, columns: list[str], max_rows: int) -> None:
        self.columns = columns
        self.max_rows = max_rows
        self._snapshot: _Snapshot | None = None
        self._filters: OrderedDict[tuple[int, str], np.ndarray] = OrderedDict()
        # Loading a snapshot or a filter's rows happens once, whichever thread asks
        # first; the other waits for it rather than doing the same work twice.
        self._lock = threading.Lock()

    def search(
        self, table: Any, column: str, vector: np.ndarray, where: str, limit: int
    ) -> list[tuple[dict[str, Any], float]] | None:
        """The ``limit`` nearest rows (node columns, cosine distance) that ``where``
        admits, or ``None`` when LanceDB must search (see the class docstring)."""
        query = np.asarray(vector, dtype=np.float32)
        if not np.any(query):  # no direction to rank by: whatever LanceDB makes of it
            return None
        version = int(table.version)
        admitted = self._admitted(table, version, where)
        snapshot = self._snapshot
        if admitted is None or snapshot is None or snapshot.version != version:
            return None
        assert snapshot.nodes is not None and snapshot.vectors is not None
        assert snapshot.row_ids is not None
        vectors = snapshot.vectors.get(column)
        if vectors is None or limit <= 0:
            return None if vectors is None else []
        keep = np.flatnonzero(admitted[vectors.rows])
        if keep.size == 0:
            return []
        found = _distances(vectors, keep, query)
        wanted = min(limit + 1, keep.size)  # one past the limit, to see the cut's margin
        if keep.size > wanted:
            # Everything up to the wanted-th distance (ties at the cut included), then
            # the full order on those few.
            near = found <= np.partition(found, wanted - 1)[wanted - 1]
            keep, found = keep[near], found[near]
        order = np.lexsort((snapshot.row_ids[vectors.rows[keep]], found))[:wanted]
        if _near_ties(found[order], vectors.matrix[keep[order]]):
            logger.debug("near-tied distances: LanceDB ranks them")
            return None
        order = order[:limit]
        rows = vectors.rows[keep[order]]
        return [(snapshot.nodes[r], float(d)) for r, d in zip(rows, found[order], strict=True)]

    def rows(self, version: int, row_ids: np.ndarray) -> list[dict[str, Any]] | None:
        """The node columns of rows LanceDB found at ``version`` (by ``_rowid``), or
        ``None`` unless that version is in memory: a full-text search asks LanceDB for
        row ids and scores only (4.0 instead of 6.6 ms at 50 rows of the dev store)."""
        snapshot = self._snapshot
        if snapshot is None or snapshot.version != version or snapshot.nodes is None:
            return None
        assert snapshot.row_ids is not None
        at = np.searchsorted(snapshot.row_ids, row_ids)
        at = np.minimum(at, len(snapshot.row_ids) - 1)
        if not np.array_equal(snapshot.row_ids[at], row_ids):
            return None
        return [snapshot.nodes[i] for i in at]

    def holds(self, version: int) -> bool:
        """Is the table at ``version`` in memory?"""
        snapshot = self._snapshot
        return snapshot is not None and snapshot.version == version and snapshot.nodes is not None

    def prepare(self, table: Any, where: str) -> None:
        """Read the table (when due) and ``where``'s rows ahead of a search."""
        self._admitted(table, int(table.version), where)

    def _admitted(self, table: Any, version: int, where: str) -> np.ndarray | None:
        """Per snapshot row, whether ``where`` admits it; ``None`` when not in memory."""
        with self._lock:
            snapshot = self._current(table, version)
            if snapshot.nodes is None or snapshot.row_ids is None:
                return None
            key = (version, where)
            admitted = self._filters.get(key)
            if admitted is None:
                admitted = _admitted_rows(table, where, snapshot.row_ids)
                if int(table.version) != version:
                    return None  # the table moved on while the filter ran
                self._filters[key] = admitted
                if len(self._filters) > FILTERS_KEPT:
                    self._filters.popitem(last=False)
            else:
                self._filters.move_to_end(key)
            return admitted

    def _current(self, table: Any, version: int) -> _Snapshot:
        if self._snapshot is not None and self._snapshot.version == version:
            return self._snapshot
        self._filters.clear()
        self._snapshot = _Snapshot(version)  # not in memory unless the read succeeds
        if self.max_rows <= 0 or table.count_rows() > self.max_rows:
            return self._snapshot
        indexed = {c for ix in table.list_indices() for c in ix.columns}
        vector_columns = [
            f.name
            for f in table.schema
            if pa.types.is_fixed_size_list(f.type) and f.name not in indexed
        ]
        data = (
            table.search()
            .select([*self.columns, *vector_columns])
            .with_row_id(True)
            .limit(None)
            .to_arrow()
        )
        if int(table.version) != version:
            return self._snapshot  # a write landed while reading: LanceDB searches
        data = data.sort_by("_rowid")  # to find rows by id with a binary search
        self._snapshot = _Snapshot(
            version,
            nodes=data.select(self.columns).to_pylist(),
            row_ids=data.column("_rowid").to_numpy(),
            vectors={c: _vectors(data.column(c)) for c in vector_columns},
        )
        logger.debug("nodes table v%d in memory: %d rows", version, data.num_rows)
        return self._snapshot


def _distances(vectors: _Vectors, keep: np.ndarray, query: np.ndarray) -> np.ndarray:
    """Cosine distances of the rows ``keep`` names. When they are a minority (one
    document's rows of a corpus) only theirs are computed: ~0.2 instead of ~1 ms at the
    dev store's 9,500 rows; copying most of the matrix would cost more than it saves.
    Each row's dot product is the same either way."""
    # einsum, not BLAS: identical vectors get identical distances (BLAS kernels differ
    # by row position in the last bit), and no BLAS threads to wake (8 ms instead of
    # 0.9 on two busy cores).
    few = 2 * keep.size < len(vectors.rows)
    matrix = vectors.matrix[keep] if few else vectors.matrix
    norms = vectors.norms[keep] if few else vectors.norms
    dots = np.einsum("ij,j->i", matrix, query)
    distances: np.ndarray = np.float32(1.0) - dots / (norms * np.linalg.norm(query))
    return distances if few else distances[keep]


def _near_ties(distances: np.ndarray, vectors: np.ndarray) -> bool:
    """Do two neighbours in this ranking lie within :data:`NEAR_TIE` of each other
    without being the same vector (which LanceDB ties exactly, as here)?"""
    close = np.flatnonzero(np.diff(distances.astype(np.float64)) <= NEAR_TIE)
    return any(not np.array_equal(vectors[i], vectors[i + 1]) for i in close)


def _vectors(column: pa.ChunkedArray) -> _Vectors:
    array = column.combine_chunks()
    rows = np.flatnonzero(~np.asarray(array.is_null()))
    dim = array.type.list_size
    values = array.filter(array.is_valid()).flatten().to_numpy(zero_copy_only=False)
    matrix = np.ascontiguousarray(values.reshape(len(rows), dim), dtype=np.float32)
    return _Vectors(rows=rows, matrix=matrix, norms=np.linalg.norm(matrix, axis=1))


def _admitted_rows(table: Any, where: str, row_ids: np.ndarray) -> np.ndarray:
    found = (
        table.search().where(where).select([]).with_row_id(True).limit(None).to_arrow()
    ).column("_rowid")
    admitted = np.zeros(len(row_ids), dtype=bool)
    admitted[np.searchsorted(row_ids, found.to_numpy())] = True
    return admitted
