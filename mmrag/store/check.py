"""``mmrag check``: report (and repair) what crashes or racing writers left in a store.

Every user's rows are checked: this is maintenance, run by whoever owns the store.
Repairs only delete rows; nothing is rebuilt here. A file whose rows are removed drops
out of the ledger too, so the next ``mmrag ingest`` of it writes it again whole.
Run it while no ingest is writing: an ingest in flight has nodes not yet in the ledger,
which a repair would remove (that ingest's file would then be redone by the next run).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from mmrag.memory.tables import MEMORIES, MEMORY_PHOTOS
from mmrag.store.connect import is_missing_table
from mmrag.store.health import (
    Finding,
    HealthReport,
    delete_rows,
    extra_row_ids,
    scan,
)
from mmrag.store.store import Store

#: Files named in a finding (the rest are counted only).
_EXAMPLES = 5


def check_store(store: Store, *, repair: bool = False) -> HealthReport:
    """What is wrong with ``store``; with ``repair``, also remove it."""
    report = HealthReport()
    nodes = store._nodes_table(required=False)
    ledger_table = store.files.table
    documents_table = store.documents.table

    ledger = scan(ledger_table, ["user", "source", "nodes"])
    documents = scan(documents_table, ["user", "source"])
    node_rows = scan(nodes, ["id", "user", "source", "kind", "image_id"]) if nodes else []

    _duplicates(
        report, "duplicate_nodes", "node rows repeating an id", nodes, node_rows, ["id"], repair
    )
    _image_vectors(report, store, node_rows, repair)
    _duplicates(
        report,
        "duplicate_ledger_rows",
        "ledger rows repeating a file",
        ledger_table,
        ledger,
        ["user", "source"],
        repair,
    )
    _duplicates(
        report,
        "duplicate_document_rows",
        "document rows repeating a file",
        documents_table,
        documents,
        ["user", "source"],
        repair,
    )

    known = {(r["user"], r["source"]) for r in ledger}
    counts = Counter((r["user"], r["source"]) for r in _unique(node_rows, ["id"]))
    recorded = {(r["user"], r["source"]): int(r["nodes"] or 0) for r in ledger}

    stray = [r for r in node_rows if (r["user"], r["source"]) not in known]
    _orphans(
        report,
        "nodes_without_ledger",
        "nodes of files the ledger does not list",
        nodes,
        stray,
        repair,
    )
    stray_docs = [r for r in documents if (r["user"], r["source"]) not in known]
    _orphans(
        report,
        "documents_without_ledger",
        "document rows of files the ledger does not list",
        documents_table,
        stray_docs,
        repair,
    )
    broken = [
        r
        for r in ledger
        if counts.get((r["user"], r["source"]), 0) != recorded[(r["user"], r["source"])]
    ]
    if repair:
        # The file is then absent as a whole (no stray document or node rows left), and
        # the next ingest writes it again.
        for user in {r["user"] for r in broken}:
            store.delete_sources(user, sorted({r["source"] for r in broken if r["user"] == user}))
    _orphans(
        report,
        "ledger_without_nodes",
        "ledger rows whose file's nodes are missing "
        "or differ in number (the next ingest redoes them)",
        ledger_table,
        broken,
        repair,
    )

    images = {(r["user"], r["source"], r["image_id"]) for r in node_rows if r["kind"] == "image"}
    blind = [
        r
        for r in node_rows
        if r["kind"] == "image_summary" and (r["user"], r["source"], r["image_id"]) not in images
    ]
    _orphans(
        report,
        "summaries_without_image",
        "image summaries whose image row is gone",
        nodes,
        blind,
        repair,
    )
    _memory_photos(report, store, repair)
    return report


def _image_vectors(
    report: HealthReport, store: Store, node_rows: list[dict[str, Any]], repair: bool
) -> None:
    """Image-vector rows repeating an id, or of a node no longer stored (a crash between
    writing a file's nodes and its image vectors; the ledger makes the next ingest redo
    that file, and a repair removes the stray rows now)."""
    vectors = store._image_vectors_table()
    if vectors is None:
        return
    rows = scan(vectors, ["id", "user", "source"])
    _duplicates(
        report,
        "duplicate_image_vectors",
        "image-vector rows repeating an id",
        vectors,
        rows,
        ["id"],
        repair,
    )
    stored = {r["id"] for r in node_rows}
    _orphans(
        report,
        "image_vectors_without_node",
        "image-vector rows whose node is gone",
        vectors,
        [r for r in rows if r["id"] not in stored],
        repair,
    )


def _duplicates(
    report: HealthReport,
    kind: str,
    description: str,
    table: Any,
    rows: list[dict[str, Any]],
    key: list[str],
    repair: bool,
) -> None:
    extra = set(extra_row_ids(rows, key))
    examples = sorted({str(r.get("source", r.get("id"))) for r in rows if r["_rowid"] in extra})
    finding = Finding(kind, description, len(extra), examples[:_EXAMPLES])
    if repair and extra:
        delete_rows(table, sorted(extra), what=f"check: {kind}")
        finding.repaired = True
    report.findings.append(finding)


def _orphans(
    report: HealthReport,
    kind: str,
    description: str,
    table: Any,
    rows: list[dict[str, Any]],
    repair: bool,
) -> None:
    examples = sorted({str(r.get("source", r.get("id"))) for r in rows})
    finding = Finding(kind, description, len(rows), examples[:_EXAMPLES])
    if repair and rows:
        delete_rows(table, sorted(int(r["_rowid"]) for r in rows), what=f"check: {kind}")
        finding.repaired = True
    report.findings.append(finding)


def _memory_photos(report: HealthReport, store: Store, repair: bool) -> None:
    try:
        memories = store.db.open_table(MEMORIES)
        photos = store.db.open_table(MEMORY_PHOTOS)
    except Exception as exc:
        if is_missing_table(exc):
            return
        raise
    ids = {(r["user"], r["id"]) for r in scan(memories, ["user", "id"])}
    stray = [
        r
        for r in scan(photos, ["user", "memory_id", "id"])
        if (r["user"], r["memory_id"]) not in ids
    ]
    _orphans(
        report,
        "photos_without_memory",
        "memory photos whose concept is gone",
        photos,
        stray,
        repair,
    )


def _unique(rows: Iterable[dict[str, Any]], key: list[str]) -> list[dict[str, Any]]:
    seen: set[tuple[Any, ...]] = set()
    out = []
    for row in rows:
        k = tuple(row[c] for c in key)
        if k not in seen:
            seen.add(k)
            out.append(row)
    return out
