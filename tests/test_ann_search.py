"""Indexed vector search (mmrag.store.ann): the read scope applied after the index walk
when it admits a large share of the vectors, before it otherwise, and both return the
rows exact search over the scope returns."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmrag.components import Components
from mmrag.config import load_pipeline
from mmrag.retrieve import Retriever, candidates
from mmrag.schema import Node, NodeKind
from mmrag.store import Store, ann, indexing
from mmrag.store.hits import Hit, RowHits, read_hits

DIM = 32
SHARED_ROWS = 600
LIMIT = 20


def _nodes(vectors: np.ndarray, user: str, prefix: str) -> list[Node]:
    return [
        Node(
            id=f"{prefix}{i}",
            kind=NodeKind.TEXT,
            doc_id=f"{prefix}{i // 10}",
            source=f"/docs/{prefix}{i // 10}.txt",
            page=i % 3 + 1,
            text=f"row {i} of {prefix}",
            user=user,
            text_vector=vectors[i],
        )
        for i in range(len(vectors))
    ]


def _write(store: Store, nodes: list[Node], user: str) -> None:
    store.replace_sources(user, sorted({n.source for n in nodes}), nodes, {})


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Store, dict[str, Any]]:
    """An indexed store: 600 shared rows, 600 of ``bulk`` (half the vectors) and 30 of
    ``alice`` (2%), every vector random; the exact answer key beside it."""
    monkeypatch.setattr(indexing, "VECTOR_INDEX_MIN_ROWS", 300)
    rng = np.random.default_rng(3)
    store = Store.open(tmp_path / "store")
    store.create_nodes_table(DIM, None)
    rows: dict[str, Any] = {}
    for user, prefix, n in (("", "s", SHARED_ROWS), ("bulk", "b", 600), ("alice", "a", 30)):
        vectors = rng.standard_normal((n, DIM)).astype(np.float32)
        nodes = _nodes(vectors, user, prefix)
        _write(store, nodes, user)
        rows[user] = (vectors, [n.id for n in nodes])
    store.refresh_indexes()
    store.exact.max_rows = 0  # every search goes through the index
    return store, rows


def _cosine(vectors: np.ndarray, query: np.ndarray) -> np.ndarray:
    return np.asarray(vectors @ query / np.linalg.norm(vectors, axis=-1) / np.linalg.norm(query))


def _exact(rows: dict[str, Any], users: list[str], query: np.ndarray) -> list[str]:
    """The ids of the ``LIMIT`` rows of ``users`` nearest ``query``, by brute force."""
    vectors = np.concatenate([rows[u][0] for u in users])
    ids = [i for u in users for i in rows[u][1]]
    return [ids[i] for i in np.argsort(-_cosine(vectors, query))[:LIMIT]]


def _spy(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Record, per search, whether the postfiltered search answered it."""
    answered: list[bool] = []
    postfiltered = ann._postfiltered

    def spy(*args: Any) -> Any:
        found = postfiltered(*args)
        answered.append(found is not None)
        return found

    monkeypatch.setattr(ann, "_postfiltered", spy)
    return answered


@pytest.mark.parametrize(
    ("user", "scope", "postfilters"),
    [
        (None, [""], True),  # 600 of 1,230 vectors
        ("bulk", ["", "bulk"], True),  # 98%
        ("alice", ["", "alice"], True),  # 51%
    ],
)
def test_large_scopes_are_filtered_after_the_index_and_stay_exact(
    corpus: tuple[Store, dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    user: str | None,
    scope: list[str],
    postfilters: bool,
) -> None:
    store, rows = corpus
    answered = _spy(monkeypatch)
    matched: list[bool] = []
    rng = np.random.default_rng(5)
    for query in rng.standard_normal((10, DIM)).astype(np.float32):
        hits = store.vector_search(
            "text_vector", query, user=user, kinds=[NodeKind.TEXT], limit=LIMIT
        )
        found = [h.node.id for h in hits]
        exact = _exact(rows, scope, query)
        # The index's walk is approximate (its graph is built at random): it finds the
        # exact nearest rows nearly always, and once in a few hundred builds misses one.
        assert len(found) == LIMIT and len(set(found) & set(exact)) >= LIMIT - 1
        matched.append(found == exact)
        assert all(h.node.user in scope for h in hits)
        by_id = {i: v for u in scope for v, i in zip(*rows[u], strict=True)}
        cosine = [_cosine(by_id[h.node.id], query) for h in hits]
        # The rows it returns are scored and ranked by their exact cosine.
        np.testing.assert_allclose([h.score for h in hits], cosine, atol=1e-5)
        assert cosine == sorted(cosine, reverse=True)
    assert sum(matched) >= 9
    assert answered == [postfilters] * 10


def test_a_small_scope_is_filtered_before_the_index(
    corpus: tuple[Store, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    store, rows = corpus
    answered = _spy(monkeypatch)
    query = np.random.default_rng(6).standard_normal(DIM).astype(np.float32)
    hits = store.vector_search(
        "text_vector", query, user="alice", kinds=[NodeKind.TEXT], limit=LIMIT, where="page = 1"
    )
    # 210 of the 1,230 vectors (17%): past the bounded over-fetch, so prefiltered.
    assert answered == []
    on_page_1 = {u: (v[::3], ids[::3]) for u, (v, ids) in rows.items()}  # page = i % 3 + 1
    assert [h.node.id for h in hits] == _exact(on_page_1, ["", "alice"], query)


def test_too_few_survivors_fall_back_to_the_prefilter(
    corpus: tuple[Store, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A query whose neighbours are all another user's: the over-fetch keeps fewer rows
    than asked for, and the prefiltered search answers, still exact."""
    store, rows = corpus
    monkeypatch.setattr(ann, "OVERFETCH", 0.5)  # fetch exactly the limit for a 50% scope
    answered = _spy(monkeypatch)
    bulk_vectors = rows["bulk"][0]
    query = bulk_vectors[:40].mean(axis=0)  # nearest the bulk rows
    hits = store.vector_search("text_vector", query, user=None, kinds=[NodeKind.TEXT], limit=LIMIT)
    assert answered == [False]
    assert [h.node.id for h in hits] == _exact(rows, [""], query)


def test_a_commit_between_search_and_read_falls_back(
    corpus: tuple[Store, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row ids are only valid for the version they came from: when the table moved on
    between the search and the read of its rows, one query that searches and reads at
    once answers."""
    store, rows = corpus
    table = store._nodes_table()
    take = table.take_row_ids
    commits: list[int] = []

    def take_after_a_commit(*args: Any, **kw: Any) -> Any:
        if not commits:
            extra = np.random.default_rng(9).standard_normal((1, DIM)).astype(np.float32)
            _write(store, _nodes(extra, "bulk", "late"), "bulk")
            commits.append(int(table.version))
        return take(*args, **kw)

    monkeypatch.setattr(table, "take_row_ids", take_after_a_commit)
    read_search = ann.read_search
    fallbacks: list[int] = []

    def spy(*args: Any) -> Any:
        fallbacks.append(1)
        return read_search(*args)

    monkeypatch.setattr(ann, "read_search", spy)
    query = np.random.default_rng(8).standard_normal(DIM).astype(np.float32)
    hits = store.vector_search("text_vector", query, user=None, kinds=[NodeKind.TEXT], limit=LIMIT)
    assert commits and fallbacks == [1]
    assert [h.node.id for h in hits] == _exact(rows, [""], query)


def _node_ids(hits: list[Hit]) -> list[tuple[str, float]]:
    return [(h.node.id, round(h.score, 5)) for h in hits]


def test_one_read_serves_a_vector_and_a_full_text_search(
    corpus: tuple[Store, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a retrieval does: both searches leave their rows unread, and one read of the
    union gives what each search gives on its own."""
    store, rows = corpus
    table = store._nodes_table()
    take = table.take_row_ids
    reads: list[int] = []

    def counted(row_ids: list[int]) -> Any:
        reads.append(len(row_ids))
        return take(row_ids)

    query = rows[""][0][7]  # a shared row's own vector: it is found by both searches
    scope = {"user": "alice", "kinds": [NodeKind.TEXT], "limit": LIMIT}
    alone = (
        store.vector_search("text_vector", query, **scope),  # type: ignore[arg-type]
        store.full_text_search("row 7", **scope),  # type: ignore[arg-type]
    )
    monkeypatch.setattr(table, "take_row_ids", counted)
    found = [
        store.find_vector("text_vector", query, **scope),  # type: ignore[arg-type]
        store.find_full_text("row 7", **scope),  # type: ignore[arg-type]
    ]
    assert all(isinstance(f, RowHits) for f in found)
    assert len(reads) == 1  # the vector search's own read of its candidates' vectors
    read = read_hits(found)
    assert read is not None
    assert [_node_ids(r) for r in read] == [_node_ids(a) for a in alone]
    assert len(reads) == 2  # one read for both lists' rows...
    shared = {h.node.id for h in read[0]} & {h.node.id for h in read[1]}
    assert shared and reads[1] == 2 * LIMIT - len(shared)  # ...each row read once


def test_rows_found_before_a_commit_are_not_read_after_it(
    corpus: tuple[Store, dict[str, Any]],
) -> None:
    store, _ = corpus
    found = store.find_full_text("row 7", user=None, kinds=[NodeKind.TEXT], limit=LIMIT)
    assert isinstance(found, RowHits)
    late = np.random.default_rng(9).standard_normal((1, DIM)).astype(np.float32)
    _write(store, _nodes(late, "", "late"), "")
    assert read_hits([found]) is None
    hits = store.full_text_search("row 7", user=None, kinds=[NodeKind.TEXT], limit=LIMIT)
    assert hits and all(h.node.user == "" for h in hits)


def test_a_users_first_search_needs_no_count_of_their_scope(
    corpus: tuple[Store, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The shared corpus admits half the rows, enough for the postfilter whoever asks:
    it is counted once, and a new user's own scope not at all."""
    store, rows = corpus
    table = store._nodes_table()
    count_rows = table.count_rows
    counted: list[str | None] = []

    def spy(where: str | None = None) -> int:
        counted.append(where)
        return int(count_rows(where))

    monkeypatch.setattr(table, "count_rows", spy)
    answered = _spy(monkeypatch)
    query = np.random.default_rng(10).standard_normal(DIM).astype(np.float32)
    for user, scope in (("alice", ["", "alice"]), ("bulk", ["", "bulk"]), ("carol", [""])):
        hits = store.vector_search(
            "text_vector", query, user=user, kinds=[NodeKind.TEXT], limit=LIMIT
        )
        assert [h.node.id for h in hits] == _exact(rows, scope, query)
    assert answered == [True, True, True]
    filters = [w for w in counted if w is not None]
    assert len(filters) == 1 and "alice" not in filters[0] and "bulk" not in filters[0]


class _FixedEmbedder:
    """Embeds every query as one given vector."""

    name = "fixed"
    dim = DIM
    max_tokens = 256

    def __init__(self, vector: np.ndarray) -> None:
        self.vector = vector

    def tokenize(self, text: str) -> list[int]:
        return list(range(len(text.split())))

    def embed(self, texts: Any, *, is_query: bool = False) -> np.ndarray:
        return np.stack([self.vector for _ in texts])


def test_a_retrieval_whose_table_moves_on_mid_search_searches_again(
    corpus: tuple[Store, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer commits between the vector search and the read of both lists'
    rows: the retriever searches again and ranks as it would have."""
    store, rows = corpus
    components = Components(load_pipeline("default").model_copy(update={"image_embedder": None}))
    components.text_embedder = _FixedEmbedder(rows[""][0][7])  # type: ignore[assignment]
    retriever = Retriever(store, components)

    def ranked() -> list[tuple[str, float]]:
        return [(i.node.id, i.score) for i in retriever.retrieve("row 7", k=10).items]

    before = ranked()
    find_vector = store.find_vector
    commits: list[int] = []

    def find_then_commit(*args: Any, **kw: Any) -> Any:
        found = find_vector(*args, **kw)
        late = np.random.default_rng(len(commits)).standard_normal((1, DIM)).astype(np.float32)
        _write(store, _nodes(late, "bulk", f"late{len(commits)}-"), "bulk")  # out of scope
        commits.append(1)
        return found

    monkeypatch.setattr(store, "find_vector", find_then_commit)
    read_hits_in_candidates = candidates.read_hits
    reads: list[bool] = []

    def spy(found: Any) -> Any:
        read = read_hits_in_candidates(found)
        reads.append(read is not None)
        return read

    monkeypatch.setattr(candidates, "read_hits", spy)
    after = ranked()
    assert [i for i, _ in after] == [i for i, _ in before]
    # The second search is LanceDB's refined one: its distances differ in the last bits.
    np.testing.assert_allclose([s for _, s in after], [s for _, s in before], atol=1e-3)
    assert reads == [False] and len(commits) == 2  # searched again
