"""Lost commit races: which LanceDB errors are retried, and tables created only once.

The multi-process runs are in ``test_concurrency.py`` (slow); these pin the two pieces
they rely on, quickly and deterministically enough to run with every change.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import pytest

from mmrag.errors import StoreError
from mmrag.store.connect import open_or_create
from mmrag.store.retry import is_conflict, retry_conflicts

# Messages LanceDB (lance 13) gave when a writer lost a race, as seen in real runs.
LOST_RACES = [
    "lance error: Retryable commit conflict for version 2: This Overwrite transaction was "
    "preempted by concurrent transaction Overwrite at version 2. Please retry.",
    "lance error: Incompatible transaction: This Update transaction is incompatible with "
    "concurrent transaction Overwrite at version 2.",
    "Commit conflict for version 7: there was a concurrent commit",
]


@pytest.mark.parametrize("message", LOST_RACES)
def test_lost_races_are_conflicts(message: str) -> None:
    assert is_conflict(RuntimeError(message))


@pytest.mark.parametrize("message", ["lance error: Not found: table t", "disk full", ""])
def test_real_failures_are_not_conflicts(message: str) -> None:
    assert not is_conflict(RuntimeError(message))


def test_a_lost_race_is_retried_on_the_latest_version() -> None:
    calls: list[str] = []

    def write() -> str:
        calls.append("write")
        if calls.count("write") < 3:
            raise RuntimeError(LOST_RACES[1])
        return "written"

    result = retry_conflicts(
        write, what="writing", on_retry=lambda: calls.append("reload"), sleep=lambda _: None
    )
    assert result == "written"
    assert calls == ["write", "reload", "write", "reload", "write"]


def test_endless_conflicts_end_in_one_store_error_and_other_errors_pass_at_once() -> None:
    def conflict() -> None:
        raise RuntimeError(LOST_RACES[0])

    with pytest.raises(StoreError, match=r"writing rows: still conflicting .* 3 attempts"):
        retry_conflicts(conflict, what="writing rows", attempts=3, sleep=lambda _: None)

    tries = []

    def broken() -> None:
        tries.append(1)
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        retry_conflicts(broken, what="writing rows", sleep=lambda _: None)
    assert tries == [1]


def test_racing_creators_make_one_table_not_an_overwrite(tmp_path: Path) -> None:
    """Lance commits a create that lost to another create as an overwrite of the winner's
    table (which would drop rows the winner had written by then). Without the creation
    lock about one try in ten made a second version here; with it, none may."""
    import lancedb

    schema = pa.schema([pa.field("k", pa.string(), nullable=False)])
    for trial in range(15):
        uri = str(tmp_path / f"store{trial}")
        start = threading.Barrier(4)
        errors: list[BaseException] = []

        def create(
            uri: str = uri, start: threading.Barrier = start, errors: list[BaseException] = errors
        ) -> None:
            db = lancedb.connect(uri)
            start.wait()
            try:
                open_or_create(db, uri, "t", schema)
            except BaseException as exc:  # reported below: a thread's error is otherwise lost
                errors.append(exc)

        threads = [threading.Thread(target=create) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert not errors
        assert lancedb.connect(uri).open_table("t").version == 1, f"trial {trial}"
