"""The ledger of ingested files: what each source's content hash was when last ingested.

It is what makes ingestion incremental (unchanged files are skipped) and resumable: a
file's row is written only after its nodes are committed, so a crash in between makes
the next run redo that file, which is idempotent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from mmrag.store.filters import all_of, in_list, write_scope
from mmrag.store.health import remove_duplicates
from mmrag.store.retry import retry_conflicts
from mmrag.store.tables import FILES_SCHEMA


@dataclass(slots=True)
class FileRecord:
    user: str
    source: str
    doc_id: str
    sha256: str
    size: int
    mtime: float
    fingerprint: str
    nodes: int = 0
    pages: int = 0
    images: int = 0
    ingested_at: datetime = field(default_factory=lambda: datetime.now(UTC))


class FileLedger:
    def __init__(self, table: Any) -> None:
        self._table = table

    @property
    def table(self) -> Any:
        """The LanceDB table, for maintenance (compaction, checks)."""
        return self._table

    def records(self, user: str) -> dict[str, FileRecord]:
        """All files of exactly this namespace, by source."""
        rows = self._table.search().where(write_scope(user)).limit(None).to_arrow().to_pylist()
        return {r["source"]: FileRecord(**r) for r in rows}

    def upsert(self, records: Sequence[FileRecord]) -> None:
        if not records:
            return
        data = pa.Table.from_pylist([asdict(r) for r in records], schema=FILES_SCHEMA)
        before = int(self._table.version)
        retry_conflicts(
            lambda: (
                self._table.merge_insert(["user", "source"])
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute(data.cast(self._table.schema))
            ),
            what="writing the file ledger",
            on_retry=self._table.checkout_latest,
        )
        # If another writer committed meanwhile (or the table predates key declarations),
        # a second row of a file is possible: look for one and remove it.
        for user in {r.user for r in records}:
            sources = [r.source for r in records if r.user == user]
            scope = all_of(write_scope(user), in_list("source", sources))
            remove_duplicates(
                self._table, ["user", "source"], scope, what="file ledger", before=before
            )

    def delete(self, user: str, sources: Sequence[str]) -> None:
        if sources:
            scope = all_of(write_scope(user), in_list("source", sources))
            retry_conflicts(
                lambda: self._table.delete(scope),
                what="deleting ledger rows",
                on_retry=self._table.checkout_latest,
            )

    def count(self, where: str) -> int:
        return int(self._table.count_rows(where))
