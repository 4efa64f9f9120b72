"""One row per ingested document with its whole text, full-text indexed.

Searching whole documents tells *which* document a question is about — the hard part of
corpus-wide search, where many pages of many reports look alike — and gives each page a
document-level prior in relevancy scoring.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from lancedb.index import FTS

from mmrag.store.filters import all_of, in_list, read_scope, write_scope

DOCUMENTS = "documents"

DOCUMENTS_SCHEMA = pa.schema(
    [
        pa.field("user", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("pages", pa.int32()),
        pa.field("text", pa.large_string()),
    ]
)


@dataclass(slots=True)
class DocumentRow:
    user: str
    source: str
    doc_id: str
    title: str
    pages: int
    text: str


@dataclass(slots=True)
class DocumentHit:
    source: str
    doc_id: str
    score: float


class DocumentTable:
    def __init__(self, table: Any) -> None:
        self._table = table

    def replace(self, user: str, sources: Sequence[str], rows: Sequence[DocumentRow]) -> None:
        """Make ``rows`` the documents of ``sources`` (one atomic commit)."""
        data = pa.Table.from_pylist(
            [
                {
                    "user": r.user,
                    "source": r.source,
                    "doc_id": r.doc_id,
                    "title": r.title,
                    "pages": r.pages,
                    "text": r.text,
                }
                for r in rows
            ],
            schema=DOCUMENTS_SCHEMA,
        )
        scope = all_of(write_scope(user), in_list("source", sources))
        (
            self._table.merge_insert(["user", "source"])
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(scope)
            .execute(data)
        )

    def delete(self, user: str, sources: Sequence[str]) -> None:
        if sources:
            self._table.delete(all_of(write_scope(user), in_list("source", sources)))

    def search(
        self, text: str, *, user: str | None, limit: int, where: str | None = None
    ) -> list[DocumentHit]:
        if not text.strip() or self._table.count_rows() == 0:
            return []
        rows = (
            self._table.search(text, query_type="fts", fts_columns="text")
            .where(all_of(read_scope(user), where), prefilter=True)
            .select(["source", "doc_id", "_score"])
            .limit(limit)
            .to_list()
        )
        return [DocumentHit(r["source"], r["doc_id"], float(r["_score"])) for r in rows]

    def page_counts(self, sources: Sequence[str], *, user: str | None) -> dict[str, int]:
        if not sources:
            return {}
        rows = (
            self._table.search()
            .where(all_of(read_scope(user), in_list("source", sources)))
            .select(["source", "pages"])
            .limit(None)
            .to_list()
        )
        return {r["source"]: int(r["pages"] or 0) for r in rows}

    def refresh_index(self) -> None:
        if self._table.count_rows() == 0:
            return
        if not any(ix.columns == ["text"] for ix in self._table.list_indices()):
            self._table.create_index("text", config=FTS(with_position=False))
        self._table.optimize()
