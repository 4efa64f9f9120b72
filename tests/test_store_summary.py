"""Saved answers of read-only commands are given only while no table changed."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from mmrag import RAG
from mmrag.cli import app
from mmrag.store import summary
from tests.conftest import fast_pipeline

runner = CliRunner()


def _store(tmp_path: Path) -> tuple[RAG, str]:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Tapirs have short trunks.", encoding="utf-8")
    store = str(tmp_path / "store")
    rag = RAG.open(store, pipeline=fast_pipeline())
    rag.ingest([docs])
    return rag, store


def test_an_answer_is_given_back_until_a_table_changes(tmp_path: Path) -> None:
    rag, store = _store(tmp_path)
    assert summary.recall(store, "k") is None
    assert summary.remember(store, "k", lambda: {"n": 1}) == {"n": 1}
    assert summary.recall(store, "k") == {"n": 1}
    assert summary.recall(store, "other key") is None

    (tmp_path / "docs" / "b.txt").write_text("Okapis are shy.", encoding="utf-8")
    rag.ingest([tmp_path / "docs"])
    assert summary.recall(store, "k") is None  # the nodes table has a new version
    assert summary.recall_or_compute(store, "k", lambda: {"n": 2}) == {"n": 2}


def test_versions_are_read_from_the_manifests(tmp_path: Path) -> None:
    rag, store = _store(tmp_path)
    versions = summary.table_versions(store)
    assert versions is not None
    assert versions["nodes.lance"] == rag.store._nodes_table().version


def test_no_cache_for_object_storage_missing_stores_or_damaged_files(tmp_path: Path) -> None:
    assert summary.table_versions("s3://bucket/store") is None
    assert summary.recall("s3://bucket/store", "k") is None
    assert summary.recall(tmp_path / "nowhere", "k") is None
    _, store = _store(tmp_path)
    summary.remember(store, "k", lambda: [1, 2])
    for entry in (Path(store) / summary.CACHE_DIR).glob("*.json"):
        entry.write_text("{not json", encoding="utf-8")
    assert summary.recall(store, "k") is None
    assert summary.recall_or_compute(store, "k", lambda: [3]) == [3]


def test_stats_and_memory_list_follow_changes_made_by_other_programs(tmp_path: Path) -> None:
    rag, store = _store(tmp_path)
    before = runner.invoke(app, ["stats", "-s", store, "--json"])
    assert before.exit_code == 0, before.output
    assert '"files": 1' in before.output
    empty = runner.invoke(app, ["memory", "list", "-u", "alice", "-s", store])
    assert "alice has no memories" in empty.output

    # Changes made through the Python API, not the CLI: the saved answers must not hide them.
    (tmp_path / "docs" / "b.txt").write_text("Okapis are shy.", encoding="utf-8")
    rag.ingest([tmp_path / "docs"])
    rag.memories("alice").add("bo", info="My Shiba Inu.", category="dog")

    after = runner.invoke(app, ["stats", "-s", store, "--json"])
    assert '"files": 2' in after.output
    listed = runner.invoke(app, ["memory", "list", "-u", "alice", "-s", store, "--json"])
    assert '"name": "<bo>"' in listed.output
