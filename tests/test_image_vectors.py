"""Image feature vectors live in a table of their own beside the nodes table.

Why: a null fixed-size vector takes its full width in a Lance file, so text rows carried
5 KB of empty image vector each (docs/scaling.md). These tests hold the guarantees the
nodes table gives — replace, delete, scope, health — for that table too, and check that
a store made before the split keeps working.
"""

from __future__ import annotations

from pathlib import Path

import lancedb
import numpy as np
import pytest
from PIL import Image

from mmrag import RAG
from mmrag.schema import NodeKind
from mmrag.store import indexing
from mmrag.store.check import check_store
from mmrag.store.tables import IMAGE_VECTORS, NODES, nodes_schema
from tests import colour_embedder  # noqa: F401  (registers the "test-colour" image embedder)
from tests.conftest import fast_pipeline

COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def _photo(path: Path, rgb: tuple[int, int, int]) -> Path:
    image = Image.new("RGB", (128, 128), rgb)  # ingest skips images under 100 px
    image.paste((250, 250, 250), (0, 0, 32, 32))  # not flat: the features need a spread
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


def _corpus(root: Path) -> Path:
    for name, rgb in COLOURS.items():
        _photo(root / f"{name}.png", rgb)
    (root / "notes.txt").write_text("Kestrels hover over open fields.", encoding="utf-8")
    return root


def _rag(store: Path) -> RAG:
    return RAG.open(store, pipeline=fast_pipeline(image_embedder={"type": "test-colour"}))


def _vector_rows(rag: RAG) -> list[dict[str, object]]:
    table = rag.store._image_vectors_table()
    return table.search().select(["id", "user", "source"]).limit(None).to_list()


def _best_source(
    rag: RAG, rgb: tuple[int, int, int], tmp_path: Path, user: str | None = None
) -> str:
    query = _photo(tmp_path / "queries" / f"{rgb}.png", rgb)
    return Path(rag.search(image=query, k=1, user=user)[0].node.source).name


def test_image_vectors_are_a_table_of_their_own(tmp_path: Path) -> None:
    rag = _rag(tmp_path / "store")
    rag.ingest([_corpus(tmp_path / "docs")])
    nodes = rag.store.db.open_table(NODES)
    assert "image_vector" not in nodes.schema.names
    images = nodes.count_rows(f"kind = '{NodeKind.IMAGE.value}'")
    assert images == 3 and len(_vector_rows(rag)) == 3
    assert _best_source(rag, COLOURS["green"], tmp_path) == "green.png"
    assert {i.image_id for i in [rag.search(image=tmp_path / "docs" / "red.png", k=1)[0].node]}
    assert len(rag.store.image_features(user=None)) == 3


def test_replacing_and_deleting_a_photo_replaces_its_vectors(tmp_path: Path) -> None:
    docs = _corpus(tmp_path / "docs")
    rag = _rag(tmp_path / "store")
    rag.ingest([docs])
    _photo(docs / "red.png", COLOURS["blue"])  # the red photo is now blue
    rag.ingest([docs])
    rows = _vector_rows(rag)
    assert len(rows) == 3 and len({r["id"] for r in rows}) == 3
    found = [Path(h.node.source).name for h in rag.search(image=docs / "blue.png", k=2)]
    assert sorted(found) == ["blue.png", "red.png"]
    (docs / "green.png").unlink()
    assert rag.ingest([docs], prune=True).pruned == 1
    assert sorted(Path(str(r["source"])).name for r in _vector_rows(rag)) == ["blue.png", "red.png"]


def test_a_users_photo_vectors_stay_in_their_scope(tmp_path: Path) -> None:
    rag = _rag(tmp_path / "store")
    rag.ingest([_corpus(tmp_path / "shared")])
    _photo(tmp_path / "alice" / "purple.png", (140, 40, 160))
    rag.ingest([tmp_path / "alice"], user="alice")
    assert _best_source(rag, (140, 40, 160), tmp_path, user="alice") == "purple.png"
    assert _best_source(rag, (140, 40, 160), tmp_path, user="bob") != "purple.png"
    assert _best_source(rag, (140, 40, 160), tmp_path) != "purple.png"


def test_stray_image_vectors_are_found_repaired_and_healed(tmp_path: Path) -> None:
    """A crash between writing a file's nodes and its image vectors leaves vector rows of
    no node: `mmrag check` finds them, and the next ingest redoes the file."""
    docs = _corpus(tmp_path / "docs")
    rag = _rag(tmp_path / "store")
    rag.ingest([docs])
    table = rag.store._image_vectors_table()
    stray = table.search().where("source LIKE '%red.png'").limit(1).to_arrow()
    stray = stray.set_column(0, "id", [["stray-id"]])
    table.add(stray)
    report = check_store(rag.store)
    found = {f.kind: f.rows for f in report.findings}
    assert found["image_vectors_without_node"] == 1 and not report.ok
    assert rag.store.sources_to_redo("", {str(docs / "red.png"): 1}) == {str(docs / "red.png")}
    again = rag.ingest([docs])
    assert again.ingested == 1 and len(_vector_rows(rag)) == 3
    assert check_store(rag.store).ok


def test_check_repair_removes_stray_image_vectors(tmp_path: Path) -> None:
    rag = _rag(tmp_path / "store")
    rag.ingest([_corpus(tmp_path / "docs")])
    table = rag.store._image_vectors_table()
    copy = table.search().limit(1).to_arrow()
    table.add(copy)  # a duplicate of an id
    table.add(copy.set_column(0, "id", [["gone"]]))
    found = {f.kind: f.rows for f in check_store(rag.store, repair=True).findings}
    assert found["duplicate_image_vectors"] == 1 and found["image_vectors_without_node"] == 1
    assert check_store(rag.store).ok and len(_vector_rows(rag)) == 3


def test_a_store_made_with_image_vectors_in_the_nodes_table_keeps_working(
    tmp_path: Path,
) -> None:
    pipeline = fast_pipeline(image_embedder={"type": "test-colour"})
    db = lancedb.connect(tmp_path / "store")
    db.create_table(NODES, schema=nodes_schema(pipeline.text_embedder.dim, 48))
    rag = RAG.open(tmp_path / "store", pipeline=pipeline)
    docs = _corpus(tmp_path / "docs")
    rag.ingest([docs])
    assert IMAGE_VECTORS not in db.list_tables().tables
    nodes = rag.store.db.open_table(NODES)
    assert nodes.count_rows("image_vector IS NOT NULL") == 3
    assert _best_source(rag, COLOURS["blue"], tmp_path) == "blue.png"
    _photo(docs / "red.png", COLOURS["green"])
    rag.ingest([docs])
    assert nodes.count_rows("image_vector IS NOT NULL") == 3
    assert len(rag.store.image_features(user=None)) == 3
    assert check_store(rag.store).ok


def test_vectors_of_a_large_image_table_get_an_ann_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image table follows the same index policy as the nodes table."""
    monkeypatch.setattr(indexing, "VECTOR_INDEX_MIN_ROWS", 300)
    rag = _rag(tmp_path / "store")
    rag.ingest([_corpus(tmp_path / "docs")])
    table = rag.store._image_vectors_table()
    rng = np.random.default_rng(0)
    rows = table.search().limit(1).to_arrow().to_pylist()[0]
    extra = []
    for i in range(indexing.VECTOR_INDEX_MIN_ROWS):
        vector = rng.normal(size=48).astype(np.float32)
        extra.append(rows | {"id": f"x{i}", "image_vector": (vector / np.linalg.norm(vector))})
    table.add(extra)
    assert "image_vectors.image_vector" in rag.store.missing_indexes()
    rag.store.refresh_indexes()
    covered = {(c.table, c.columns) for c in rag.store.index_coverage()}
    assert ("image_vectors", ("image_vector",)) in covered
    assert rag.store.missing_indexes() == []
    assert _best_source(rag, COLOURS["red"], tmp_path) == "red.png"
