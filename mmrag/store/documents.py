"""One row per ingested document: its whole text and the counts of its words.

Ranking whole documents tells *which* document a question is about — the hard part of
corpus-wide search, where many pages of many reports look alike — and gives each page a
document-level prior in relevancy scoring (:mod:`mmrag.retrieve.routing`). The word
counts are stored at ingest so that ranking needs no pass over the text; stores written
before they existed are read by counting the stored text instead.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from mmrag.store.filters import all_of, in_list, read_scope, write_scope
from mmrag.store.health import remove_duplicates
from mmrag.store.retry import retry_conflicts
from mmrag.store.tables import key_field

DOCUMENTS = "documents"

DOCUMENTS_SCHEMA = pa.schema(
    [
        key_field("user", 1),
        key_field("source", 2),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("title", pa.string()),
        pa.field("pages", pa.int32()),
        pa.field("text", pa.large_string()),
        pa.field("terms", pa.list_(pa.string())),
        pa.field("term_counts", pa.list_(pa.int32())),
    ]
)

_WORD = re.compile(r"\w\w+")


def count_terms(text: str) -> Counter[str]:
    """The words of ``text`` (two or more letters or digits, lower-cased) and how often
    each occurs: what document ranking matches a question against."""
    return Counter(_WORD.findall(text.lower()))


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


@dataclass(slots=True)
class DocumentTerms:
    """The documents a reader may see, with the counts of their words."""

    sources: list[str] = field(default_factory=list)
    doc_ids: list[str] = field(default_factory=list)
    counts: list[Counter[str]] = field(default_factory=list)


class DocumentTable:
    def __init__(self, table: Any) -> None:
        self._table = table

    @property
    def table(self) -> Any:
        """The LanceDB table, for maintenance (compaction, checks)."""
        return self._table

    def replace(self, user: str, sources: Sequence[str], rows: Sequence[DocumentRow]) -> None:
        """Make ``rows`` the documents of ``sources`` (one atomic commit)."""
        records = []
        for r in rows:
            terms = count_terms(r.text)
            records.append(
                {
                    "user": r.user,
                    "source": r.source,
                    "doc_id": r.doc_id,
                    "title": r.title,
                    "pages": r.pages,
                    "text": r.text,
                    "terms": list(terms),
                    "term_counts": list(terms.values()),
                }
            )
        # A store written before the word counts existed keeps its own columns.
        data = (
            pa.Table.from_pylist(records, schema=DOCUMENTS_SCHEMA)
            .select(self._table.schema.names)
            .cast(self._table.schema)
        )
        scope = all_of(write_scope(user), in_list("source", sources))
        before = int(self._table.version)
        retry_conflicts(
            lambda: (
                self._table.merge_insert(["user", "source"])
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .when_not_matched_by_source_delete(scope)
                .execute(data)
            ),
            what="writing document rows",
            on_retry=self._table.checkout_latest,
        )
        # If another writer committed meanwhile (or the table predates key declarations),
        # a second row of a file is possible: look for one and remove it.
        remove_duplicates(
            self._table, ["user", "source"], scope, what="document rows", before=before
        )

    def delete(self, user: str, sources: Sequence[str]) -> None:
        if sources:
            scope = all_of(write_scope(user), in_list("source", sources))
            retry_conflicts(
                lambda: self._table.delete(scope),
                what="deleting document rows",
                on_retry=self._table.checkout_latest,
            )

    @property
    def version(self) -> int:
        return int(self._table.version)

    def terms(self, *, user: str | None, where: str | None = None) -> DocumentTerms:
        """The word counts of every document ``user`` may read that matches ``where``."""
        found = DocumentTerms()
        if self._table.count_rows() == 0:
            return found
        stored = "term_counts" in self._table.schema.names
        counted = ["terms", "term_counts"] if stored else ["text"]
        table = (
            self._table.search()
            .where(all_of(read_scope(user), where))
            .select(["source", "doc_id", *counted])
            .limit(None)
            .to_arrow()
        )
        found.sources = table.column("source").to_pylist()
        found.doc_ids = table.column("doc_id").to_pylist()
        if stored:
            for terms, counts in zip(
                table.column("terms").to_pylist(),
                table.column("term_counts").to_pylist(),
                strict=True,
            ):
                found.counts.append(Counter(dict(zip(terms or [], counts or [], strict=True))))
        else:
            found.counts = [count_terms(text or "") for text in table.column("text").to_pylist()]
        return found

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
