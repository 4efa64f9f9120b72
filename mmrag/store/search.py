"""Searching a store's nodes: by vector and by BM25, each scoped to the shared corpus plus
one user, mixed into :class:`~mmrag.store.store.Store`.

Each search comes in two forms: ``vector_search`` and ``full_text_search`` return hits;
``find_vector`` and ``find_full_text`` may leave the rows of a large table unread
(:class:`~mmrag.store.hits.RowHits`), so that a retrieval reads both searches' rows at
once (:func:`~mmrag.store.hits.read_hits`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mmrag.schema import NodeKind
from mmrag.store import ann
from mmrag.store.ann import AnnSearch
from mmrag.store.exact import ExactSearch
from mmrag.store.hits import Found, Hit, RowHits, read_hits
from mmrag.store.indexing import VectorSearchParams
from mmrag.store.tables import NODE_COLUMNS, row_to_node


class Searches:
    """Vector and full-text search over the nodes (and image-vector) tables."""

    if TYPE_CHECKING:  # provided by Store
        exact: ExactSearch
        ann: AnnSearch
        search_params: VectorSearchParams

        def _nodes_table(self, required: bool = True) -> Any: ...
        def _vector_table(self, column: str) -> tuple[Any | None, ExactSearch]: ...
        def _filter(
            self, user: str | None, kinds: Sequence[NodeKind], where: str | None
        ) -> str: ...

    def vector_search(
        self,
        column: str,
        vector: np.ndarray,
        *,
        user: str | None,
        kinds: Sequence[NodeKind],
        limit: int,
        where: str | None = None,
    ) -> list[Hit]:
        """The ``limit`` rows of ``kinds`` that ``user`` may read (and ``where`` admits)
        nearest ``vector`` in ``column``, scored by cosine similarity, best first."""
        found = self.find_vector(column, vector, user=user, kinds=kinds, limit=limit, where=where)
        read = read_hits([found])
        if read is not None:
            return read[0]
        # The table moved on between the search and the read of its rows.
        table, _ = self._vector_table(column)
        scope = self._filter(user, kinds, where)
        return ann.read_search(table, column, vector, scope, limit, self.search_params)

    def find_vector(
        self,
        column: str,
        vector: np.ndarray,
        *,
        user: str | None,
        kinds: Sequence[NodeKind],
        limit: int,
        where: str | None = None,
    ) -> Found:
        """:meth:`vector_search`, leaving the rows unread where the search went through
        the table's ANN index."""
        # Every table _vector_table gives holds the column (no schema read: ~1 ms on a
        # LanceDB call per search).
        table, exact = self._vector_table(column)
        if table is None:
            return []
        scope = self._filter(user, kinds, where)
        nearest = exact.search(table, column, vector, scope, limit)
        if nearest is not None:
            return [Hit(row_to_node(r), 1.0 - distance) for r, distance in nearest]
        shared = self._filter(None, kinds, where)
        return self.ann.search(
            table,
            column,
            vector,
            scope,
            limit,
            self.search_params,
            within=shared if shared != scope else None,
        )

    def prepare_vector_search(
        self, *, user: str | None, kinds: Sequence[NodeKind], where: str | None = None
    ) -> None:
        """Do what a coming :meth:`vector_search` with this filter can do before its
        vector exists, so that it runs while the query is embedded."""
        table = self._nodes_table(required=False)
        if table is not None:
            self.exact.prepare(table, self._filter(user, kinds, where))

    def full_text_search(
        self,
        text: str,
        *,
        user: str | None,
        kinds: Sequence[NodeKind],
        limit: int,
        where: str | None = None,
    ) -> list[Hit]:
        """The ``limit`` best rows by BM25 over their text, with the filter of
        :meth:`vector_search`."""
        found = self.find_full_text(text, user=user, kinds=kinds, limit=limit, where=where)
        read = read_hits([found])
        if read is not None:
            return read[0]
        # The table moved on between the search and the read of its rows.
        query = self._full_text_query(text, user=user, kinds=kinds, limit=limit, where=where)
        rows = query.select([*NODE_COLUMNS, "_score"]).to_list()
        return [Hit(row_to_node(r), float(r["_score"])) for r in rows]

    def find_full_text(
        self,
        text: str,
        *,
        user: str | None,
        kinds: Sequence[NodeKind],
        limit: int,
        where: str | None = None,
    ) -> Found:
        """:meth:`full_text_search`, leaving the rows unread unless the table is in
        memory."""
        table = self._nodes_table(required=False)
        if table is None or not text.strip():
            return []
        version = int(table.version)
        query = self._full_text_query(text, user=user, kinds=kinds, limit=limit, where=where)
        found = query.select(["_score"]).with_row_id(True).to_arrow()
        row_ids = found.column("_rowid").to_numpy()
        scores = [float(s) for s in found.column("_score").to_pylist()]
        if self.exact.holds(version):  # the rows are in memory
            rows = self.exact.rows(version, row_ids)
            if rows is not None and int(table.version) == version:
                return [Hit(row_to_node(r), s) for r, s in zip(rows, scores, strict=True)]
        return RowHits(table, version, row_ids.tolist(), scores)

    def _full_text_query(
        self,
        text: str,
        *,
        user: str | None,
        kinds: Sequence[NodeKind],
        limit: int,
        where: str | None,
    ) -> Any:
        return (
            self._nodes_table()
            .search(text, query_type="fts", fts_columns="text")
            .where(self._filter(user, kinds, where), prefilter=True)
            .limit(limit)
        )
