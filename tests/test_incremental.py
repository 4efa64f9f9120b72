"""Incremental and resumable ingestion."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmrag import RAG
from mmrag.ingest.enrich import Enricher


def _texts(rag: RAG, query: str) -> list[str]:
    """Stored texts mentioning ``query`` (the hashing test embedder returns everything)."""
    hits = rag.search(query, k=50)
    return sorted(h.node.text for h in hits if query.lower() in h.node.text.lower())


def test_unchanged_files_do_no_work(fast_rag: RAG, make_corpus, monkeypatch) -> None:
    root = make_corpus()
    first = fast_rag.ingest([root])
    # pdf, md, html, txt; the png is skipped: the fast pipeline indexes no images
    assert first.ok and (first.ingested, first.skipped) == (4, 1)
    version = fast_rag.store.version()

    def boom(*args: object, **kwargs: object) -> None:
        raise AssertionError("enrichment ran for unchanged files")

    monkeypatch.setattr(Enricher, "enrich", boom)
    again = fast_rag.ingest([root])
    assert again.unchanged == first.ingested + first.skipped
    assert again.ingested == 0
    assert fast_rag.store.version() == version


def test_touched_but_identical_file_is_not_reingested(fast_rag: RAG, tmp_path: Path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("Capybaras are the largest rodents.", encoding="utf-8")
    fast_rag.ingest([doc])
    os.utime(doc, (1_000_000_000, 1_000_000_000))
    report = fast_rag.ingest([doc])
    assert (report.unchanged, report.ingested) == (1, 0)


def test_changed_file_replaces_its_nodes(fast_rag: RAG, tmp_path: Path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("Flamingos are pink because of their diet.", encoding="utf-8")
    fast_rag.ingest([doc])
    doc.write_text("Flamingos stand on one leg to save heat.", encoding="utf-8")
    report = fast_rag.ingest([doc])
    assert report.ingested == 1
    assert _texts(fast_rag, "flamingos") == ["Flamingos stand on one leg to save heat."]


def test_prune_removes_files_that_are_gone(fast_rag: RAG, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "keep.txt").write_text("Pelicans scoop fish.", encoding="utf-8")
    gone = folder / "gone.txt"
    gone.write_text("Puffins nest in burrows.", encoding="utf-8")
    other = tmp_path / "elsewhere.txt"
    other.write_text("Puffins also appear here.", encoding="utf-8")
    fast_rag.ingest([folder, other])
    gone.unlink()
    assert fast_rag.ingest([folder]).pruned == 0  # without --prune nothing is forgotten
    assert len(_texts(fast_rag, "puffins")) == 2
    report = fast_rag.ingest([folder], prune=True)
    assert report.pruned == 1
    # Only files under the given roots are pruned; elsewhere.txt stays.
    assert _texts(fast_rag, "puffins") == ["Puffins also appear here."]
    assert fast_rag.stats().files == 2


def test_pipeline_change_reingests(tmp_path: Path) -> None:
    from tests.conftest import fast_pipeline

    doc = tmp_path / "a.txt"
    doc.write_text(" ".join(f"word{i}" for i in range(300)), encoding="utf-8")
    store = tmp_path / "store"
    rag = RAG.open(store, pipeline=fast_pipeline())
    rag.ingest([doc])
    before = sum(rag.stats().nodes.values())
    rag = RAG.open(
        store, pipeline=fast_pipeline(chunking={"chunk_tokens": 20, "overlap_tokens": 0})
    )
    report = rag.ingest([doc])
    assert report.ingested == 1
    assert sum(rag.stats().nodes.values()) > before


def test_interrupted_ingest_is_finished_by_the_next_run(tmp_path: Path, monkeypatch) -> None:
    from tests.conftest import fast_pipeline

    folder = tmp_path / "docs"
    folder.mkdir()
    for i in range(6):
        (folder / f"f{i}.txt").write_text(f"Document number {i} about lemurs.", encoding="utf-8")
    # One file per commit, and the third commit dies mid-run like a Ctrl-C.
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline(ingest={"commit_every": 1}))
    real = Enricher.enrich
    calls = {"n": 0}

    def dying(self: Enricher, docs, on_stage=None, on_step=None):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(self, docs, on_stage, on_step)

    monkeypatch.setattr(Enricher, "enrich", dying)
    with pytest.raises(KeyboardInterrupt):
        rag.ingest([folder])
    monkeypatch.setattr(Enricher, "enrich", real)
    # What was committed is complete and searchable; nothing half-written.
    assert rag.stats().files == 2
    assert len(_texts(rag, "lemurs")) == 2
    report = rag.ingest([folder])
    assert (report.unchanged, report.ingested) == (2, 4)
    assert len(_texts(rag, "lemurs")) == 6


def test_crash_between_nodes_and_ledger_is_repaired(
    fast_rag: RAG, tmp_path: Path, monkeypatch
) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("Okapis are related to giraffes.", encoding="utf-8")

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(type(fast_rag.store.files), "upsert", crash)
    with pytest.raises(RuntimeError):
        fast_rag.ingest([doc])
    monkeypatch.undo()
    report = fast_rag.ingest([doc])
    assert report.ingested == 1
    assert _texts(fast_rag, "okapis") == ["Okapis are related to giraffes."]
