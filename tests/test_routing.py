"""Document routing: which documents a question is about, by TF-IDF cosine."""

from __future__ import annotations

import math
from pathlib import Path

import lancedb
import pyarrow as pa
import pytest

from mmrag import RAG
from mmrag.retrieve.routing import DocumentRouter
from mmrag.store import Store
from mmrag.store.documents import DOCUMENTS_SCHEMA, DocumentRow, count_terms

# Every report repeats the generic words of a question; one names the company.
REPORTS = {
    "acme.pdf": "Acme annual report. " + "Acme sales grew. " * 30 + "Our tax rate was 21%.",
    "globex.pdf": "Globex annual report. " + "the effective tax rate " * 30,
    "initech.pdf": "Initech annual report. " + "tax rate and operating income " * 30,
}


def _row(source: str, text: str, user: str = "") -> DocumentRow:
    return DocumentRow(user=user, source=source, doc_id=source, title="", pages=1, text=text)


def _store(tmp_path: Path, docs: dict[str, str], user: str = "") -> Store:
    store = Store.open(tmp_path / "store")
    store.documents.replace(user, list(docs), [_row(s, t, user) for s, t in docs.items()])
    return store


def test_counting_terms_lowercases_and_skips_single_letters() -> None:
    assert count_terms("Tax rate, TAX: a 10-K x") == {"tax": 2, "rate": 1, "10": 1}


def test_scores_are_tfidf_cosines(tmp_path: Path) -> None:
    store = _store(tmp_path, {"a.txt": "apple apple banana", "b.txt": "banana cherry"})
    hits = DocumentRouter(store.documents).search("apple", user=None, limit=5)
    # idf smoothed as (1 + n) / (1 + df); term frequency as 1 + log(tf); cosine.
    idf_apple, idf_banana = math.log(3 / 2) + 1, 1.0
    apple = (1 + math.log(2)) * idf_apple
    assert [h.source for h in hits] == ["a.txt"]  # b.txt shares no word: left out
    assert hits[0].score == pytest.approx(apple / math.hypot(apple, idf_banana))


def test_matches_scikit_learn(tmp_path: Path) -> None:
    text = pytest.importorskip("sklearn.feature_extraction.text")
    store = _store(tmp_path, REPORTS)
    question = "What is Acme's effective tax rate in millions?"
    vectorizer = text.TfidfVectorizer(sublinear_tf=True)
    matrix = vectorizer.fit_transform(REPORTS.values())
    scores = (vectorizer.transform([question]) @ matrix.T).toarray()[0]
    expected = dict(zip(REPORTS, scores, strict=True))
    hits = DocumentRouter(store.documents).search(question, user=None, limit=5)
    assert {h.source: h.score for h in hits} == pytest.approx(expected)


def test_a_distinctive_word_outweighs_common_ones(tmp_path: Path) -> None:
    store = _store(tmp_path, REPORTS)
    hits = DocumentRouter(store.documents).search("Acme tax rate", user=None, limit=2)
    assert [h.source for h in hits] == ["acme.pdf", "globex.pdf"]


def test_readers_see_only_their_own_and_shared_documents(tmp_path: Path) -> None:
    store = _store(tmp_path, {"shared.txt": "herons nest"})
    store.documents.replace("ann", ["ann.txt"], [_row("ann.txt", "herons fish", "ann")])
    store.documents.replace("bob", ["bob.txt"], [_row("bob.txt", "herons fly", "bob")])
    router = DocumentRouter(store.documents)
    assert {h.source for h in router.search("herons", user="ann", limit=9)} == {
        "shared.txt",
        "ann.txt",
    }
    only = router.search("herons", user="ann", limit=9, where="source = 'ann.txt'")
    assert [h.source for h in only] == ["ann.txt"]


def test_new_documents_are_seen_after_ingest(tmp_path: Path) -> None:
    store = _store(tmp_path, {"a.txt": "herons"})
    router = DocumentRouter(store.documents)
    assert router.search("egrets", user=None, limit=5) == []
    store.documents.replace("", ["b.txt"], [_row("b.txt", "egrets")])
    assert [h.source for h in router.search("egrets", user=None, limit=5)] == ["b.txt"]


def test_empty_questions_and_stores_find_nothing(tmp_path: Path) -> None:
    router = DocumentRouter(Store.open(tmp_path / "empty").documents)
    assert router.search("anything", user=None, limit=5) == []
    assert router.search("  ", user=None, limit=5) == []


def test_a_store_written_before_word_counts_is_read_from_its_text(tmp_path: Path) -> None:
    new_columns = ("terms", "term_counts")
    old_schema = pa.schema([f for f in DOCUMENTS_SCHEMA if f.name not in new_columns])
    db = lancedb.connect(tmp_path / "store")
    row = {"user": "", "source": "old.txt", "doc_id": "o", "title": "", "pages": 1}
    db.create_table("documents", pa.Table.from_pylist([{**row, "text": "herons"}], old_schema))
    store = Store.open(tmp_path / "store")
    router = DocumentRouter(store.documents)
    assert [h.source for h in router.search("herons", user=None, limit=5)] == ["old.txt"]
    # Writing to it keeps its columns and loses nothing.
    store.documents.replace("", ["new.txt"], [_row("new.txt", "herons and egrets")])
    assert [h.source for h in router.search("egrets", user=None, limit=5)] == ["new.txt"]
    assert {h.source for h in router.search("herons", user=None, limit=5)} == {
        "old.txt",
        "new.txt",
    }


def test_corpus_search_uses_the_router(fast_rag: RAG, tmp_path: Path) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    for name, text in REPORTS.items():
        (folder / name.replace(".pdf", ".txt")).write_text(text, encoding="utf-8")
    fast_rag.ingest([folder])
    stored = fast_rag.store.documents.terms(user=None)
    assert all(counts for counts in stored.counts)  # counted at ingest
    found, _ = fast_rag.retriever.candidates("Acme tax rate")
    assert Path(found.documents[0].source).name == "acme.txt"


def test_bm25_scores_follow_okapi(tmp_path: Path) -> None:
    docs = {"a.txt": "apple apple banana", "b.txt": "banana cherry", "c.txt": "cherry"}
    store = _store(tmp_path, docs)
    hits = DocumentRouter(store.documents, "bm25").search("apple", user=None, limit=5)
    # idf = ln(1 + (N - df + 0.5) / (df + 0.5)); tf saturated by k1 = 1.2, b = 0.75
    # against the mean length (3 + 2 + 1) / 3 = 2 words.
    idf = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))
    tf, length = 2, 3 / 2
    expected = idf * tf * 2.2 / (tf + 1.2 * (1 - 0.75 + 0.75 * length))
    assert [h.source for h in hits] == ["a.txt"]
    assert hits[0].score == pytest.approx(expected)


def test_fused_ranking_averages_both_rankings_relative_to_their_best(tmp_path: Path) -> None:
    store = _store(tmp_path, REPORTS)
    question = "What is Acme's effective tax rate?"
    scores = {}
    for method in ("tfidf", "bm25", "fused"):
        hits = DocumentRouter(store.documents, method).search(question, user=None, limit=5)
        scores[method] = {h.source: h.score for h in hits}
    best = {m: max(scores[m].values()) for m in ("tfidf", "bm25")}
    for source, fused in scores["fused"].items():
        parts = [scores[m].get(source, 0.0) / best[m] for m in ("tfidf", "bm25")]
        assert fused == pytest.approx(sum(parts) / 2)
