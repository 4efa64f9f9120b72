"""Vector search through a column's ANN index, with the read scope applied before or
after the index is walked.

LanceDB can apply a filter before the search (prefilter: the filter's rows are worked out
on every query and the graph walk skips the others) or after it (postfilter: the nearest
rows are found first, then filtered, so fewer than asked for may remain). On the 1M-node
store of ``benchmarks/scale.py`` (shared corpus plus one user, text kinds: 47% of the
rows) the prefilter was the largest share of a search: 43 ms as shipped, 16 ms with no
filter (``benchmarks/scale_breakdown.py``). So when the scope admits a large share of a
column's vectors, the search over-fetches without the filter, keeps the rows the filter
admits, reads their vectors and ranks them by exact distance (the index's are
approximate, and the relevancy score reads them). That loses no row the index finds:
when at least ``limit`` rows survive, any admitted row nearer than the last one kept
would have been among the rows fetched, as far as the walk finds the nearest ones
(recall@10 1.0 at 1M rows with :data:`~mmrag.store.indexing.SEARCH`). When fewer
survive, or the scope admits too small a share for a bounded over-fetch, the search is
the prefilter one, refined by LanceDB. Either way it returns row ids
(:class:`~mmrag.store.hits.RowHits`): the node columns are read afterwards, with other
searches' rows.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from mmrag.store.hits import Hit, RowHits
from mmrag.store.indexing import VectorSearchParams
from mmrag.store.tables import NODE_COLUMNS, row_to_node

#: Rows fetched per row wanted, divided by the share of vectors the scope admits: with
#: 1.5, a scope holding half the vectors fetches 3x the limit and expects 1.5x to pass.
OVERFETCH = 1.5
#: The most rows a postfiltered search fetches, as a multiple of its limit: past that
#: (a scope of under 19% of the vectors) the prefilter is used.
MAX_FETCH_PER_ROW = 8
#: Scopes whose share is kept.
SHARES_KEPT = 256
#: A kept share is counted again once the table's row count has moved this far from the
#: count it was taken at. The share only picks the faster path (a wrong one costs time,
#: not results), so it need not follow every commit: counting a scope scans its filter
#: columns' indexes, 2-8 ms at 1M rows.
RECOUNT_GROWTH = 0.1


class AnnSearch:
    """Indexed vector search over a store's tables, remembering what share of a table's
    rows each scope admits. A column name stands for its table: each vector column
    lives in one table of a store."""

    def __init__(self) -> None:
        self._shares: OrderedDict[tuple[str, str], _Share] = OrderedDict()
        # Searches run on several threads at once (a server's, the retriever's workers).
        self._lock = threading.Lock()

    def search(
        self,
        table: Any,
        column: str,
        vector: np.ndarray,
        scope: str,
        limit: int,
        params: VectorSearchParams,
        *,
        within: str | None = None,
    ) -> RowHits:
        """The ``limit`` rows in ``scope`` nearest ``vector``, nearest first, scored by
        cosine similarity. ``within``: a filter admitting part of what ``scope`` admits,
        the same for many scopes (the shared corpus, for every user's scope): its share
        is a lower bound of theirs, counted once for all of them."""
        vector = vector.astype(np.float32)
        version = int(table.version)
        fetch = self._fetch(table, version, column, limit, scope, within)
        if fetch is not None:
            found = _postfiltered(table, version, column, vector, scope, limit, fetch, params)
            if found is not None:
                return found
        query = _prefiltered(table, column, vector, scope, limit, params)
        nearest = query.select(["_distance"]).with_row_id(True).to_arrow()
        return RowHits(
            table,
            version,
            nearest.column("_rowid").to_pylist(),
            [1.0 - d for d in nearest.column("_distance").to_pylist()],
        )

    def _fetch(
        self, table: Any, version: int, column: str, limit: int, scope: str, within: str | None
    ) -> int | None:
        """How many rows a postfiltered search fetches, or None where the prefilter is
        the faster path. A user's first search does not count its own scope when the
        shared corpus alone already admits enough (at 1M rows a count costs 2-8 ms)."""
        share = self._share(table, version, column, scope, count=within is None)
        if share is None and within is not None:
            floor = self._share(table, version, column, within)
            if floor is not None and _fetch_for(floor, limit) is not None:
                share = floor
        if share is None:
            share = self._share(table, version, column, scope)
        return None if share is None else _fetch_for(share, limit)

    def _share(
        self, table: Any, version: int, column: str, scope: str, *, count: bool = True
    ) -> float | None:
        """The share of the table's rows ``scope`` admits; None when it is not known
        and ``count`` is off. Rows without a vector count too (``IS NOT NULL`` on a
        vector column reads the whole column): the share comes out lower than among
        vectors, which only makes the over-fetch more generous."""
        key = (column, scope)
        with self._lock:
            kept = self._shares.get(key)
            if kept is not None:
                self._shares.move_to_end(key)
        if kept is not None:
            if kept.version == version:
                return kept.share
            if abs(table.count_rows() - kept.rows) <= RECOUNT_GROWTH * kept.rows:
                kept.version = version
                return kept.share
        if not count:
            return None
        # Counted outside the lock: two threads may both count a new scope, which costs
        # a count, where waiting would hold up every other scope's searches.
        rows = table.count_rows()
        share = table.count_rows(scope) / rows if rows else 0.0
        with self._lock:
            self._shares[key] = _Share(version, rows, share)
            while len(self._shares) > SHARES_KEPT:
                self._shares.popitem(last=False)
        return share


def _fetch_for(share: float, limit: int) -> int | None:
    """Rows to over-fetch for ``limit`` in a scope of ``share``; None past the bound."""
    fetch = math.ceil(OVERFETCH * limit / share) if share > 0 else None
    return fetch if fetch is not None and fetch <= MAX_FETCH_PER_ROW * limit else None


@dataclass(slots=True)
class _Share:
    """A scope's share of a table's rows, counted when it held ``rows`` rows."""

    #: The latest version seen without recounting.
    version: int
    rows: int
    share: float


def read_search(
    table: Any, column: str, vector: np.ndarray, scope: str, limit: int, params: VectorSearchParams
) -> list[Hit]:
    """The prefiltered search, its rows read by the same query: for when the table keeps
    moving on between a search and the read of its rows."""
    query = _prefiltered(table, column, vector.astype(np.float32), scope, limit, params)
    rows = query.select([*NODE_COLUMNS, "_distance"]).to_list()
    return [Hit(row_to_node(r), 1.0 - float(r["_distance"])) for r in rows]


def _prefiltered(
    table: Any, column: str, vector: np.ndarray, scope: str, limit: int, params: VectorSearchParams
) -> Any:
    query = (
        table.search(vector, vector_column_name=column)
        .distance_type("cosine")
        .where(scope, prefilter=True)
        .limit(limit)
    )
    return params.apply(query, limit)


def _postfiltered(
    table: Any,
    version: int,
    column: str,
    vector: np.ndarray,
    scope: str,
    limit: int,
    fetch: int,
    params: VectorSearchParams,
) -> RowHits | None:
    """The over-fetched, postfiltered search, ranked by exact distance; None when fewer
    than ``limit`` rows survive or the table changed while it ran."""
    query = (
        table.search(vector, vector_column_name=column)
        .distance_type("cosine")
        .where(scope, prefilter=False)
        .select(["_distance"])
        .with_row_id(True)
        .limit(fetch)
    )
    # The exact distances below replace LanceDB's refine step.
    query = dataclasses.replace(params, refine_factor=None).apply(query, fetch)
    row_ids = query.to_arrow().column("_rowid").to_pylist()
    if len(row_ids) < limit:
        return None
    rows = table.take_row_ids(row_ids).select([column]).with_row_id().to_arrow()
    # Row ids are only valid for the version they were found in. A commit in between
    # (another writer compacting) is caught where the rows are read (read_hits), which
    # then searches again; rows gone already send this search to the prefilter path.
    if rows.num_rows != len(row_ids):
        return None
    distances = _cosine_distances(rows.column(column), vector)
    # Nearest first; equal distances (repeated chunks) in row order, as LanceDB ranks them.
    taken = rows.column("_rowid").to_numpy()
    nearest = np.lexsort((taken, distances))[:limit]
    return RowHits(
        table,
        version,
        [int(r) for r in taken[nearest]],
        [1.0 - float(distances[i]) for i in nearest],
    )


def _cosine_distances(vectors: pa.ChunkedArray, query: np.ndarray) -> np.ndarray:
    flat = pa.concat_arrays([chunk.flatten() for chunk in vectors.chunks])
    matrix = flat.to_numpy(zero_copy_only=False).reshape(len(vectors), -1).astype(np.float32)
    norms = np.linalg.norm(matrix, axis=1) * float(np.linalg.norm(query))
    # einsum, not BLAS: see mmrag.store.exact (OpenBLAS threads cost more than the product).
    dots = np.einsum("ij,j->i", matrix, query)
    return np.asarray(1.0 - dots / np.maximum(norms, np.float32(1e-12)))
