"""Replacing some files' rows of one table in one atomic commit.

Used for the nodes table and for the image-vectors table beside it: each gets one
merge-insert commit per group of files, so a reader never sees half of a file's rows in
either. A commit that loses a race with another writer is retried
(:mod:`mmrag.store.retry`), and copies a race still made are removed afterwards.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from mmrag.store.health import remove_duplicates
from mmrag.store.retry import retry_conflicts


def replace_rows(table: Any, data: pa.Table, scope: str, *, heal: bool, what: str) -> None:
    """Make ``data`` the complete set of rows in ``scope`` (some files of one user).

    Rows in ``scope`` that ``data`` lacks are gone afterwards; with ``heal`` (files found
    broken), so are extra copies of the same id.
    """
    before = int(table.version)
    if data.num_rows == 0:
        # Nothing to write (most files have no image vectors): commit only a delete,
        # and only when there is something to delete.
        if heal or table.count_rows(scope) > 0:
            retry_conflicts(lambda: table.delete(scope), what=what, on_retry=table.checkout_latest)
        return
    # Deleting what ``data`` leaves out scans the whole table (0.4 s a commit at 25k
    # rows, growing with the table): new files, the common case in a large ingest, have
    # nothing to delete, which an indexed count finds out in milliseconds.
    replaced = retry_conflicts(
        lambda: _merge(table, data, scope, delete=heal or table.count_rows(scope) > 0),
        what=what,
        on_retry=table.checkout_latest,
    )
    if not replaced and int(table.version) - before > 1:
        # Another writer committed meanwhile and may have written rows of these files
        # that this write did not see: replace again, deleting this time.
        retry_conflicts(
            lambda: _merge(table, data, scope, delete=True),
            what=what,
            on_retry=table.checkout_latest,
        )
    remove_duplicates(table, ["id"], scope, what=what, before=before, always=heal)


def _merge(table: Any, data: pa.Table, scope: str, *, delete: bool) -> bool:
    """Upsert ``data`` by id; with ``delete``, also drop rows in ``scope`` it lacks."""
    merge = table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all()
    if delete:
        merge = merge.when_not_matched_by_source_delete(scope)
    # Text nodes have no image vector and image nodes no text vector: those nulls are
    # intended; LanceDB's default would reject them as "bad vectors".
    merge.execute(data, on_bad_vectors="null")
    return delete
