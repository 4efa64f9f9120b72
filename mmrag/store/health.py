"""Finding and removing what concurrent or interrupted writers can leave in a store.

The write path is built so that none of this happens: node ids are deterministic, every
table declares its key as LanceDB's (unenforced) primary key so two writers inserting
the same key conflict and retry instead of both inserting, and a file's ledger row is
written only after its nodes. What can still be found is listed here:

- duplicate rows of one key (stores written before the keys were declared, or by
  another tool);
- ledger rows whose file has a different number of nodes than recorded (a write that
  was interrupted, or two writers that read different versions of a changing file);
- nodes or document rows of a file the ledger does not know (a crash between the node
  commit and the ledger commit: the next ingest of that file redoes it);
- image summaries whose image row is gone, memory photos whose concept is gone.

:func:`sources_to_redo` is what ``mmrag ingest`` uses to heal at the start of a run;
:func:`check_store` is ``mmrag check``.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from mmrag.store.filters import all_of, in_list, sql_str, write_scope
from mmrag.store.retry import retry_conflicts

logger = logging.getLogger(__name__)

_PRIMARY_KEY = b"lance-schema:unenforced-primary-key"

#: Rows are deleted by row id in chunks of this many (one commit each).
_DELETE_CHUNK = 5_000


@dataclass(slots=True)
class Finding:
    """One kind of problem: how many rows, and a few of the files it concerns."""

    kind: str
    description: str
    rows: int
    examples: list[str] = field(default_factory=list)
    repaired: bool = False


@dataclass(slots=True)
class HealthReport:
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.rows == 0 or f.repaired for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "findings": [
                {
                    "kind": f.kind,
                    "description": f.description,
                    "rows": f.rows,
                    "examples": f.examples,
                    "repaired": f.repaired,
                }
                for f in self.findings
            ],
        }


def scan(table: Any, columns: Sequence[str], where: str | None = None) -> list[dict[str, Any]]:
    """``columns`` plus ``_rowid`` of every row matching ``where``."""
    query = table.search().with_row_id(True).select(list(columns)).limit(None)
    if where:
        query = query.where(where)
    rows: list[dict[str, Any]] = query.to_arrow().to_pylist()
    return rows


def extra_row_ids(rows: Sequence[dict[str, Any]], key: Sequence[str]) -> list[int]:
    """Row ids of every copy of a key but one (the lowest row id is kept).

    Every process that finds the same duplicates picks the same rows to delete, so
    concurrent repairs agree instead of deleting all copies between them.
    """
    seen: dict[tuple[Any, ...], int] = {}
    extra = []
    for row in sorted(rows, key=lambda r: int(r["_rowid"])):
        k = tuple(row[c] for c in key)
        if k in seen:
            extra.append(int(row["_rowid"]))
        else:
            seen[k] = int(row["_rowid"])
    return extra


def delete_rows(table: Any, row_ids: Sequence[int], *, what: str) -> None:
    """Delete rows by row id; a conflict with another writer rescans nothing: row ids of
    rows that were moved by a concurrent compaction no longer match and are skipped by
    the next check."""
    for start in range(0, len(row_ids), _DELETE_CHUNK):
        chunk = ", ".join(str(i) for i in row_ids[start : start + _DELETE_CHUNK])
        where = f"_rowid IN ({chunk})"
        retry_conflicts(partial(table.delete, where), what=what, on_retry=table.checkout_latest)


def declares_key(table: Any, key: Sequence[str]) -> bool:
    """Does ``table`` declare ``key`` as its primary key (so racing inserts conflict)?"""
    schema = table.schema
    return all(_PRIMARY_KEY in (schema.field(column).metadata or {}) for column in key)


def remove_duplicates(
    table: Any,
    key: Sequence[str],
    where: str,
    *,
    what: str,
    before: int | None = None,
    always: bool = False,
) -> int:
    """Delete all but one copy of each ``key`` among rows matching ``where``.

    Called after a write that started at table version ``before``. If that write was
    the only commit since (no other writer got in between) and the table declares its
    key, no copy can have been made and the scan is skipped: it would cost a read of
    the key columns on every commit of a large ingest. ``always`` scans anyway (files
    found broken, whose copies came from elsewhere).
    """
    alone = before is not None and int(table.version) - before <= 1
    if not always and alone and declares_key(table, key):
        return 0
    extra = extra_row_ids(scan(table, key, where), key)
    if extra:
        logger.warning("%s: removing %d duplicate rows", what, len(extra))
        delete_rows(table, extra, what=what)
    return len(extra)


def sources_to_redo(
    nodes: Any | None,
    user: str,
    recorded: dict[str, int],
    *,
    where: str | None = None,
    images: Any | None = None,
) -> set[str]:
    """Files of ``user`` whose stored nodes do not match the ledger (``recorded`` maps
    source -> node count): missing, duplicated or stale rows, or rows in the ``images``
    (image-vectors) table that are duplicated or of no stored node. Ingesting them again
    (replace, then remove duplicates) makes them whole."""
    if not recorded:
        return set()
    if nodes is None:
        return {s for s, n in recorded.items() if n}
    scope = all_of(write_scope(user), where)
    rows = scan(nodes, ["id", "source"], scope)
    counts = Counter(r["source"] for r in rows)
    ids = Counter((r["source"], r["id"]) for r in rows)
    duplicated = {source for (source, _), n in ids.items() if n > 1}
    redo = {s for s, n in recorded.items() if counts.get(s, 0) != n} | duplicated
    if images is not None:
        vectors = Counter((r["source"], r["id"]) for r in scan(images, ["id", "source"], scope))
        stale = {s for (s, i), n in vectors.items() if n > 1 or (s, i) not in ids}
        redo |= stale & set(recorded)
    return redo


def in_sources(user: str, sources: Sequence[str]) -> str:
    return all_of(write_scope(user), in_list("source", sources))


def user_source(user: str, source: str) -> str:
    return all_of(f"user = {sql_str(user)}", f"source = {sql_str(source)}")
