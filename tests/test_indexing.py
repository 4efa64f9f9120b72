"""The index policy: when the ANN index is built and rebuilt, that rows written after a
build are still found, index coverage, and ``mmrag optimize``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from mmrag.cli import app
from mmrag.schema import Node, NodeKind
from mmrag.store import Store, indexing

DIM = 64
runner = CliRunner()


def _nodes(start: int, n: int, rng: np.random.Generator) -> list[Node]:
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return [
        Node(
            id=f"n{start + i}",
            kind=NodeKind.TEXT,
            doc_id=f"d{start + i}",
            source=f"/docs/f{start + i}.txt",
            text=f"row {start + i} word{(start + i) % 13}",
            text_vector=vectors[i],
        )
        for i in range(n)
    ]


def _write(store: Store, nodes: list[Node]) -> None:
    store.replace_sources("", [n.source for n in nodes], nodes, {})


def _vector_index(store: Store) -> indexing.IndexCoverage:
    return next(c for c in store.index_coverage() if c.columns == ("text_vector",))


@pytest.fixture
def small_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(indexing, "VECTOR_INDEX_MIN_ROWS", 300)


def test_policy_thresholds() -> None:
    assert indexing.vector_index_config(indexing.VECTOR_INDEX_MIN_ROWS - 1, 384) is None
    config = indexing.vector_index_config(1_000_000, 384)
    assert config is not None and config.distance_type == "cosine"
    assert config.num_partitions == 1
    assert indexing.vector_index_config(2_500_000, 384).num_partitions == 3  # type: ignore[union-attr]
    assert not indexing.needs_retrain(150_000, 100_000)
    assert indexing.needs_retrain(200_000, 100_000)
    assert not indexing.needs_retrain(10**9, None)


def test_rows_written_after_the_build_are_found(tmp_path: Path, small_threshold: None) -> None:
    rng = np.random.default_rng(0)
    store = Store.open(tmp_path / "store")
    store.create_nodes_table(DIM, None)
    _write(store, _nodes(0, 400, rng))
    store.refresh_indexes()
    assert _vector_index(store).unindexed_rows == 0

    late = _nodes(400, 50, rng)
    _write(store, late)
    assert _vector_index(store).unindexed_rows == 50
    for node in late[:10]:
        assert node.text_vector is not None
        hits = store.vector_search(
            "text_vector", node.text_vector, user=None, kinds=[NodeKind.TEXT], limit=3
        )
        assert hits[0].node.id == node.id
    found = store.full_text_search("420", user=None, kinds=[NodeKind.TEXT], limit=3)
    assert [h.node.id for h in found] == ["n420"]  # BM25 covers unindexed rows too

    store.refresh_indexes()
    assert _vector_index(store).unindexed_rows == 0


def test_index_is_retrained_once_the_column_has_doubled(
    tmp_path: Path, small_threshold: None
) -> None:
    rng = np.random.default_rng(1)
    store = Store.open(tmp_path / "store")
    store.create_nodes_table(DIM, None)
    _write(store, _nodes(0, 300, rng))
    store.refresh_indexes()
    assert store.meta()["index_trained_rows"] == {"text_vector": 300}
    _write(store, _nodes(300, 200, rng))
    store.refresh_indexes()  # 500 < 2 x 300: folded in, not retrained
    assert store.meta()["index_trained_rows"] == {"text_vector": 300}
    _write(store, _nodes(500, 150, rng))
    assert "text_vector" in store.missing_indexes()
    store.refresh_indexes()
    assert store.meta()["index_trained_rows"] == {"text_vector": 650}
    assert _vector_index(store).indexed_rows == 650


def test_stats_show_coverage_and_optimize_folds_rows_in(
    tmp_path: Path, small_threshold: None
) -> None:
    rng = np.random.default_rng(2)
    path = tmp_path / "store"
    store = Store.open(path)
    store.create_nodes_table(DIM, None)
    _write(store, _nodes(0, 320, rng))
    store.refresh_indexes()
    for start in range(320, 360, 10):  # small commits: several small data files
        _write(store, _nodes(start, 10, rng))

    result = runner.invoke(app, ["optimize", "-s", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["fragments_after"] < report["fragments_before"]
    assert all(ix["unindexed_rows"] == 0 for ix in report["indexes"])
    vector = next(ix for ix in report["indexes"] if ix["columns"] == ["text_vector"])
    assert vector["type"] == "IvfHnswSq" and vector["indexed_rows"] == 360

    result = runner.invoke(app, ["optimize", "-s", str(path), "--retrain"])
    assert result.exit_code == 0, result.output
    assert "rows indexed" in result.output and "data files" in result.output
    assert Store.open(path).meta()["index_trained_rows"] == {"text_vector": 360}


def test_stats_json_lists_index_coverage(tmp_path: Path, fast_yaml: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Tapirs have short trunks.", encoding="utf-8")
    store = str(tmp_path / "store")
    assert (
        runner.invoke(app, ["ingest", str(docs), "-s", store, "-p", str(fast_yaml)]).exit_code == 0
    )
    result = runner.invoke(app, ["stats", "-s", store, "--json"])
    coverage = {ix["name"]: ix for ix in json.loads(result.stdout)["index_coverage"]}
    assert coverage["text_idx"] == {
        "table": "nodes",
        "name": "text_idx",
        "type": "FTS",
        "columns": ["text"],
        "indexed_rows": 1,
        "unindexed_rows": 0,
    }
    table = runner.invoke(app, ["stats", "-s", store])
    assert "1 / 1 rows indexed (100%)" in table.output
    # Each index is named once, on its own row; the header row counts them.
    assert table.output.count("FTS(text)") == 1


def test_optimize_help_and_missing_store(tmp_path: Path) -> None:
    result = runner.invoke(app, ["optimize", "--help"])
    assert result.exit_code == 0 and "Compact the store" in result.output
    result = runner.invoke(app, ["optimize", "-s", str(tmp_path / "nowhere")])
    assert result.exit_code == 1 and "no store at" in result.output


def test_optimize_prunes_old_versions_and_leaves_memories_their_undo(tmp_path: Path) -> None:
    from mmrag import RAG
    from tests.conftest import fast_pipeline

    docs, path = tmp_path / "docs", tmp_path / "store"
    docs.mkdir()
    rag = RAG.open(path, pipeline=fast_pipeline())
    for version in range(3):  # each re-ingest replaces the file's rows: versions pile up
        (docs / "notes.txt").write_text(f"Herons wait in the reeds. Draft {version}.\n" * 40)
        rag.ingest([docs])
    mine = rag.memories("alice")
    mine.add("bo", info="first")
    mine.edit("bo", info="second")

    before = rag.stats()
    assert before.size_bytes is not None and before.live_bytes is not None
    result = runner.invoke(app, ["optimize", "-s", str(path), "--json"])
    assert result.exit_code == 0, result.output
    kept = json.loads(result.stdout)  # the default keeps a week of versions
    assert kept["versions_after"] >= kept["versions_before"]

    result = runner.invoke(app, ["optimize", "-s", str(path), "--prune-older-than", "0", "--json"])
    assert result.exit_code == 0, result.output
    pruned = json.loads(result.stdout)
    assert pruned["versions_after"] < pruned["versions_before"]
    assert pruned["disk_bytes_after"] < pruned["disk_bytes_before"]
    reopened = RAG.open(path, pipeline=fast_pipeline())
    assert "Draft 2" in reopened.retrieve("herons in the reeds").items[0].node.text
    after = reopened.stats()  # only the old versions' files went
    assert after.size_bytes is not None and after.live_bytes is not None
    assert after.live_bytes == pytest.approx(before.live_bytes, rel=0.05)
    assert after.size_bytes - after.live_bytes < before.size_bytes - before.live_bytes
    assert reopened.memories("alice").undo() == "edit <bo>"
    assert reopened.memories("alice").show("bo").info == "first"

    result = runner.invoke(app, ["optimize", "-s", str(path), "--prune-older-than", "soon"])
    assert result.exit_code == 2 and "--prune-older-than" in result.output
    assert "not an age" in result.output


def test_ages_read_as_durations() -> None:
    from datetime import timedelta

    import typer

    from mmrag.cli.maintenance import parse_age

    assert parse_age("0") == timedelta(0)
    assert parse_age("12h") == timedelta(hours=12)
    assert parse_age("1.5d") == timedelta(hours=36)
    assert parse_age(" 30M ") == timedelta(minutes=30)
    for wrong in ("", "7", "-1d", "d", "1w"):
        with pytest.raises(typer.BadParameter):
            parse_age(wrong)
