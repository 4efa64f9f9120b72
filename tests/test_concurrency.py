"""Several processes writing one store at once, and processes killed mid-run.

Real processes on a real LanceDB store: what is tested is LanceDB's commit protocol
together with mmrag's retries, key declarations and healing, not a mock of them.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from mmrag import RAG
from mmrag.store.check import check_store
from tests.conftest import fast_pipeline

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 240


def _folder(root: Path, name: str, n: int) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"{name}{i:02d}.txt").write_text(
            f"{name} note {i} mentions topic{i % 7} and colour{i % 5}. " * 3, encoding="utf-8"
        )
    (folder / f"{name}.md").write_text(
        f"# {name}\n\nA guide to {name}.\n\n## Part two\n\nMore about topic3 in {name}.\n",
        encoding="utf-8",
    )
    return folder


def _child(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.store_child", *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "RUST_LOG": "error"},
    )


def _finish(process: subprocess.Popen[str]) -> dict[str, object]:
    out, err = process.communicate(timeout=TIMEOUT_S)
    assert process.returncode == 0, err[-3000:]
    result: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return result


def _state(store: Path) -> tuple[list[Any], ...]:
    """Node ids, ledger keys and document keys, duplicates included (sorted lists)."""
    rag = RAG.open(store, pipeline=fast_pipeline())
    nodes = rag.store._nodes_table().search().select(["id"]).limit(None).to_arrow()
    ledger = (
        rag.store.db.open_table("files").search().select(["user", "source"]).limit(None).to_arrow()
    )
    docs = rag.store.db.open_table("documents").search().select(["source"]).limit(None).to_arrow()
    return (
        sorted(nodes.column("id").to_pylist()),
        sorted(
            zip(ledger.column("user").to_pylist(), ledger.column("source").to_pylist(), strict=True)
        ),
        sorted(docs.column("source").to_pylist()),
    )


def _sequential(tmp_path: Path, folders: list[Path]) -> tuple[list[Any], ...]:
    clean = tmp_path / "clean"
    RAG.open(clean, pipeline=fast_pipeline()).ingest(folders)
    return _state(clean)


# Real processes, each importing mmrag: about a minute of CPU in all, so these two run in
# `.ci/run` (-m slow) rather than in every `make test`; the healing test below does not.
@pytest.mark.slow
def test_concurrent_writers_with_a_reader(tmp_path: Path) -> None:
    a, b, c = (_folder(tmp_path / "data", name, 8) for name in ("alpha", "beta", "gamma"))
    store = tmp_path / "store"
    stop = tmp_path / "stop"
    reader = _child("search", str(store), "--until", str(stop))
    writers = [_child("ingest", str(store), str(x), str(y)) for x, y in ((a, b), (b, c), (c, a))]
    try:
        results = [_finish(w) for w in writers]
    finally:
        stop.touch()
    seen = _finish(reader)
    assert all(r["ok"] for r in results), results
    assert seen["errors"] == [], seen["errors"]
    assert isinstance(seen["searches"], int) and seen["searches"] > 0
    assert _state(store) == _sequential(tmp_path, [a, b, c])
    assert check_store(RAG.open(store, pipeline=fast_pipeline()).store).ok


@pytest.mark.slow
@pytest.mark.parametrize("moment", ["commit", "ledger", "indexes", "compact"])
def test_kill_at_any_moment_then_rerun_gives_the_clean_result(tmp_path: Path, moment: str) -> None:
    folders = [_folder(tmp_path / "data", name, 6) for name in ("alpha", "beta")]
    store = tmp_path / "store"
    marker = tmp_path / "marker"
    rng = random.Random(f"{moment}-13")
    args = ["ingest", str(store), *map(str, folders), "--pause-at", moment]
    child = _child(*args, "--marker", str(marker))
    deadline = time.monotonic() + TIMEOUT_S
    while not marker.exists():
        assert child.poll() is None, child.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the child never reached " + moment
        time.sleep(0.01)
    # Somewhere in the pause or inside the operation that follows it.
    time.sleep(rng.uniform(0.0, 0.6))
    child.send_signal(signal.SIGKILL)
    child.communicate(timeout=TIMEOUT_S)
    rag = RAG.open(store, pipeline=fast_pipeline())
    report = rag.ingest(folders)
    assert report.ok
    assert _state(store) == _sequential(tmp_path, folders)
    assert check_store(rag.store).ok
    hits = rag.search("topic3", k=3)  # full-text and vector search both work again
    assert hits and "FTS(text)" in rag.store.index_names()


def test_a_rerun_heals_duplicates_and_missing_nodes(tmp_path: Path) -> None:
    """What racing or crashed writers of older versions left: the next run repairs it."""
    folder = _folder(tmp_path / "data", "alpha", 4)
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline())
    rag.ingest([folder])
    clean = _state(tmp_path / "store")
    table = rag.store._nodes_table()
    rows = table.search().limit(None).to_arrow()
    first = rows.column("source")[0].as_py()
    table.add(rows.filter(pc.equal(rows.column("source"), first)))  # duplicates
    second = sorted(set(rows.column("source").to_pylist()) - {first})[0]
    table.delete(f"source = '{second}'")  # missing nodes
    assert Counter(_state(tmp_path / "store")[0]) != Counter(clean[0])
    report = rag.ingest([folder])
    assert report.ok and report.ingested == 2
    assert any("missing, duplicated or stale" in w for w in report.warnings)
    assert _state(tmp_path / "store") == clean
