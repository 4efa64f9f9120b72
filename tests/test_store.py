"""The LanceDB store: indexes, history, images, and atomic replacement."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmrag import RAG
from mmrag.store import indexing
from tests.conftest import fast_pipeline, make_pdf


def _texts(folder: Path, n: int, prefix: str = "note") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"{prefix}{i:04d}.txt").write_text(
            f"{prefix} number {i} mentions topic{i % 17} and colour{i % 5}.", encoding="utf-8"
        )
    return folder


def test_indexes_are_built_and_kept_fresh(fast_rag: RAG, tmp_path: Path) -> None:
    fast_rag.ingest([_texts(tmp_path / "a", 5)])
    names = set(fast_rag.store.index_names())
    assert {"FTS(text)", "Bitmap(user)", "Bitmap(kind)", "BTree(id)", "BTree(source)"} <= names
    fast_rag.ingest([_texts(tmp_path / "b", 5, prefix="memo")])
    table = fast_rag.store._nodes_table()
    fts = next(ix for ix in table.list_indices() if ix.columns == ["text"])
    assert table.index_stats(fts.name).num_unindexed_rows == 0
    assert {h.node.text.split()[0] for h in fast_rag.search("memo", k=3)} == {"memo"}


def test_ann_index_past_the_threshold(fast_rag: RAG, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(indexing, "VECTOR_INDEX_MIN_ROWS", 300)
    fast_rag.ingest([_texts(tmp_path / "many", 320)])
    assert any(n.endswith("(text_vector)") for n in fast_rag.store.index_names())
    hits = fast_rag.search("note number 7 topic7", k=5)
    assert any(h.node.text.startswith("note number 7 ") for h in hits)


def test_every_change_is_a_version_that_can_be_restored(fast_rag: RAG, tmp_path: Path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("Version one about herons.", encoding="utf-8")
    fast_rag.ingest([doc])
    first = fast_rag.store.version()
    doc.write_text("Version two about egrets.", encoding="utf-8")
    fast_rag.ingest([doc])
    assert fast_rag.store.version() > first
    table = fast_rag.store._nodes_table()
    table.checkout(first)
    assert [r["text"] for r in table.search().select(["text"]).to_list()] == [
        "Version one about herons."
    ]
    table.checkout_latest()


def test_store_directory_is_self_contained(tmp_path: Path) -> None:
    from PIL import Image

    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline(image_embedder="efficientnet-lite0"))
    photo = tmp_path / "pic.png"
    Image.new("RGB", (320, 240), (10, 120, 200)).save(photo)
    rag.ingest([photo])
    moved = tmp_path / "moved"
    (tmp_path / "store").rename(moved)
    photo.unlink()  # the original is gone; the store still has the image
    again = RAG.open(moved)
    hit = again.search(image=Image.new("RGB", (320, 240), (10, 120, 200)), k=1)[0]
    restored = again.image(hit.node.image_id or "")
    assert restored is not None and restored.size == (320, 240)


def test_open_refuses_a_missing_store_for_reading(tmp_path: Path) -> None:
    from mmrag.errors import StoreError

    with pytest.raises(StoreError, match="no store at"):
        RAG.open(tmp_path / "absent", create=False)
    assert not (tmp_path / "absent").exists()


def _ids(rag: RAG) -> list[str]:
    table = rag.store._nodes_table()
    return sorted(table.search().select(["id"]).limit(None).to_arrow().column("id").to_pylist())


def test_check_reports_and_repairs_duplicates_and_orphans(fast_rag: RAG, tmp_path: Path) -> None:
    import json

    import pyarrow as pa
    import pyarrow.compute as pc
    from typer.testing import CliRunner

    from mmrag.cli import app

    folder = _texts(tmp_path / "docs", 4)
    fast_rag.ingest([folder])
    clean = _ids(fast_rag)
    store = str(fast_rag.store.uri)
    runner = CliRunner()
    assert runner.invoke(app, ["check", "-s", store]).exit_code == 0

    nodes = fast_rag.store._nodes_table()
    rows = nodes.search().limit(None).to_arrow()
    sources = sorted(set(rows.column("source").to_pylist()))
    nodes.add(rows.filter(pc.equal(rows.column("source"), sources[0])))  # duplicate nodes
    nodes.delete(f"source = '{sources[1]}'")  # a ledger row without its nodes
    stray = rows.slice(0, 1).to_pylist()[0] | {"id": "stray", "source": "/gone/x.txt"}
    nodes.add(pa.Table.from_pylist([stray], schema=nodes.schema))  # nodes without a ledger row
    ledger = fast_rag.store.files.table
    ledger.add(ledger.search().limit(1).to_arrow())  # a duplicate ledger row

    result = runner.invoke(app, ["check", "-s", store, "--json"])
    assert result.exit_code == 1
    found = {f["kind"]: f["rows"] for f in json.loads(result.stdout)["findings"]}
    assert found["duplicate_nodes"] == 1 and found["duplicate_ledger_rows"] == 1
    assert found["nodes_without_ledger"] == 1 and found["ledger_without_nodes"] == 1

    assert runner.invoke(app, ["check", "-s", store, "--repair"]).exit_code == 0
    assert runner.invoke(app, ["check", "-s", store]).exit_code == 0
    again = RAG.open(store)
    assert again.ingest([folder]).ingested == 1  # the file whose nodes were lost
    assert _ids(again) == clean


def test_check_refuses_a_missing_store(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mmrag.cli import app

    result = CliRunner().invoke(app, ["check", "-s", str(tmp_path / "absent")])
    assert result.exit_code == 1 and "no store at" in result.output


def test_a_store_made_before_keys_were_declared_keeps_working(tmp_path: Path) -> None:
    import lancedb
    import pyarrow as pa

    from mmrag.store.documents import DOCUMENTS, DOCUMENTS_SCHEMA
    from mmrag.store.tables import FILES, FILES_SCHEMA, META, META_SCHEMA, NODES, nodes_schema

    def undeclared(schema: pa.Schema) -> pa.Schema:
        return pa.schema([pa.field(f.name, f.type, f.nullable) for f in schema])

    db = lancedb.connect(tmp_path / "store")
    for name, schema in (
        (NODES, nodes_schema(64, None)),
        (FILES, FILES_SCHEMA),
        (DOCUMENTS, DOCUMENTS_SCHEMA),
        (META, META_SCHEMA),
    ):
        db.create_table(name, schema=undeclared(schema))
    folder = _texts(tmp_path / "docs", 3)
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline())
    assert rag.ingest([folder]).ingested == 3
    (folder / "note0000.txt").write_text("Changed text about kestrels.", encoding="utf-8")
    assert rag.ingest([folder]).ingested == 1
    again = RAG.open(tmp_path / "store").ingest([folder])
    assert (again.ingested, again.unchanged) == (0, 3)
    assert [h.node.text for h in rag.search("kestrels", k=1)] == ["Changed text about kestrels."]


def test_a_long_lived_reader_sees_another_process_write(tmp_path: Path) -> None:
    """A server opens the store once; an `mmrag ingest` beside it must become visible
    without a restart (LanceDB handles otherwise keep the version they opened)."""
    store = tmp_path / "store"
    writer = RAG.open(store, pipeline=fast_pipeline())
    writer.ingest([_texts(tmp_path / "a", 2)])
    server = RAG.open(store, read_consistency_interval=0)
    assert {h.node.text.split()[0] for h in server.search("note", k=3)} == {"note"}
    RAG.open(store).ingest([_texts(tmp_path / "b", 2, prefix="memo")])
    assert "memo" in {h.node.text.split()[0] for h in server.search("memo", k=3)}


def test_page_texts_are_a_pages_chunks_in_order_within_the_users_scope(tmp_path: Path) -> None:
    rag = RAG.open(
        tmp_path / "store",
        pipeline=fast_pipeline(chunking={"chunk_tokens": 24, "overlap_tokens": 4}),
    )
    (tmp_path / "docs").mkdir()
    sentences = [f"Sentence {i} of the first page talks about item{i}." for i in range(12)]
    pdf = make_pdf(tmp_path / "docs" / "report.pdf", [" ".join(sentences), "Second page."])
    (tmp_path / "private").mkdir()
    secret = make_pdf(tmp_path / "private" / "secret.pdf", ["Only alice may read this."])
    assert rag.ingest([pdf.parent]).ok and rag.ingest([secret.parent], user="alice").ok
    source = str(pdf.resolve())
    pages = rag.store.page_texts([(source, 1), (source, 2), (source, 9)], user=None)
    assert set(pages) == {(source, 1), (source, 2)}
    first = pages[(source, 1)]
    assert len(first) > 1, "the page must span several chunks for this test"
    # Reading order: each sentence's first appearance follows the previous one's.
    joined = " ".join(first)
    positions = [joined.find(f"Sentence {i} ") for i in range(12)]
    assert -1 not in positions and positions == sorted(positions)
    private = (str(secret.resolve()), 1)
    assert rag.store.page_texts([private], user=None) == {}
    assert rag.store.page_texts([private], user="bob") == {}
    assert rag.store.page_texts([private], user="alice")[private] == ["Only alice may read this."]
