"""A separate process that ingests into, or searches, a store: for the concurrency and
kill tests, which need real processes racing on one LanceDB store.

    python -m tests.store_child ingest STORE PATH...        # prints the report as JSON
    python -m tests.store_child ingest STORE PATH... --pause-at indexes --marker FILE
    python -m tests.store_child search STORE --until FILE    # searches until FILE exists

``--pause-at`` names a moment of the run (``commit``, ``ledger``, ``indexes``,
``compact``): when the run gets there the child writes ``--marker`` and sleeps a little
before going on, so that the parent can ``kill -9`` it at (or just inside) that moment.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mmrag import RAG
from mmrag.store import store as store_module
from mmrag.store.files import FileLedger
from tests.conftest import fast_pipeline

PAUSE_S = 0.3


def _pause_before(owner: Any, name: str, moment: str, marker: Path) -> None:
    """Make ``owner.name`` announce ``moment`` (write ``marker``) and pause first."""
    original: Callable[..., Any] = getattr(owner, name)

    def paused(*args: Any, **kwargs: Any) -> Any:
        marker.write_text(moment, encoding="utf-8")
        time.sleep(PAUSE_S)
        return original(*args, **kwargs)

    setattr(owner, name, paused)


def _install_pause(moment: str, marker: Path) -> None:
    if moment == "commit":
        _pause_before(store_module.Store, "replace_sources", moment, marker)
    elif moment == "ledger":
        _pause_before(FileLedger, "upsert", moment, marker)
    elif moment == "indexes":
        _pause_before(store_module.Store, "_build_indexes", moment, marker)
    elif moment == "compact":
        # The compaction is the last thing a run does: pause in front of each table's.
        import lancedb.table

        _pause_before(lancedb.table.LanceTable, "optimize", moment, marker)
    else:
        raise SystemExit(f"unknown moment {moment}")


def ingest(store: str, paths: list[str], moment: str | None, marker: Path | None) -> int:
    if moment and marker:
        _install_pause(moment, marker)
    rag = RAG.open(store, pipeline=fast_pipeline())
    report = rag.ingest(paths)
    print(json.dumps({"ok": report.ok, "ingested": report.ingested}))
    return 0


def search(store: str, until: Path) -> int:
    """Search throughout; print the number of searches and every error seen."""
    errors: list[str] = []
    done = 0
    rag = RAG.open(store, pipeline=fast_pipeline())
    while not until.exists():
        try:
            rag.search("topic3 colour2", k=5)
            done += 1
        except Exception:
            errors.append(traceback.format_exc(limit=3))
        time.sleep(0.02)
    print(json.dumps({"searches": done, "errors": errors}))
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["ingest", "search"])
    parser.add_argument("store")
    parser.add_argument("paths", nargs="*")
    parser.add_argument("--pause-at")
    parser.add_argument("--marker", type=Path)
    parser.add_argument("--until", type=Path)
    args = parser.parse_args(argv)
    if args.command == "search":
        return search(args.store, args.until)
    return ingest(args.store, args.paths, args.pause_at, args.marker)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
