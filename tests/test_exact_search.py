"""The in-memory exact vector search (mmrag.store.exact) returns what LanceDB returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmrag import NodeKind
from mmrag.retrieve import SearchFilter
from mmrag.schema import Node
from mmrag.store import Store
from mmrag.store.exact import NEAR_TIE, _near_ties

DIM = 32
KINDS = (NodeKind.TEXT, NodeKind.IMAGE_SUMMARY)


def _nodes(rng: np.random.Generator, source: str, n: int, user: str = "") -> list[Node]:
    """Random text vectors, every seventh a copy of the one before (a tie), and image
    nodes, which have no text vector."""
    vectors = rng.normal(size=(n, DIM)).astype(np.float32)
    vectors[7::7] = vectors[6::7][: len(vectors[7::7])]
    nodes = [
        Node(
            id=f"{user}:{source}:{i}",
            kind=KINDS[i % 2],
            doc_id=source,
            source=source,
            page=i % 4 + 1,
            text=f"chunk {i} of {source}",
            user=user,
            text_vector=vectors[i],
        )
        for i in range(n)
    ]
    image = Node(id=f"{user}:{source}:img", kind=NodeKind.IMAGE, doc_id=source, source=source)
    return [*nodes, image]


def _write(store: Store, rng: np.random.Generator, source: str, n: int, user: str = "") -> None:
    store.replace_sources(user, [source], _nodes(rng, source, n, user), {})


@pytest.fixture
def stores(tmp_path: Path) -> tuple[Store, Store]:
    """A store searched from memory, and the same store searched by LanceDB."""
    store = Store.open(tmp_path / "store")
    store.create_nodes_table(DIM, None)
    rng = np.random.default_rng(7)
    for i in range(6):
        _write(store, rng, f"/docs/report{i}.pdf", 60)
    _write(store, rng, "/home/alice/notes.txt", 30, user="alice")
    lance = Store.open(tmp_path / "store")
    lance.exact.max_rows = 0
    return store, lance


def _ids(store: Store, vector: np.ndarray, **kw: object) -> list[tuple[str, float]]:
    hits = store.vector_search("text_vector", vector, limit=25, **kw)  # type: ignore[arg-type]
    return [(h.node.id, h.score) for h in hits]


@pytest.mark.parametrize("user", [None, "alice", "bob"])
def test_same_hits_as_lancedb_within_the_users_scope(
    stores: tuple[Store, Store], user: str | None
) -> None:
    store, lance = stores
    answered: list[bool] = []
    search = store.exact.search

    def spy(*args: object) -> object:
        result = search(*args)  # type: ignore[arg-type]
        answered.append(result is not None)
        return result

    store.exact.search = spy  # type: ignore[method-assign]
    rng = np.random.default_rng(11)
    filters = [
        SearchFilter(),
        SearchFilter(sources=("report2.pdf", "notes.txt")),
        SearchFilter(kinds=(NodeKind.IMAGE_SUMMARY,), pages=(2, 3)),
    ]
    for _ in range(10):
        query = rng.normal(size=DIM).astype(np.float32)
        for f in filters:
            for kinds in ([*KINDS], [NodeKind.IMAGE]):
                kw = {"user": user, "kinds": kinds, "where": f.where()}
                mine, theirs = _ids(store, query, **kw), _ids(lance, query, **kw)
                assert [i for i, _ in mine] == [i for i, _ in theirs]
                assert np.allclose([s for _, s in mine], [s for _, s in theirs], atol=1e-6)
    assert sum(answered) >= 0.9 * len(answered), "searches must be answered from memory"


def test_ties_rank_in_row_order_as_lancedb_does(stores: tuple[Store, Store]) -> None:
    store, lance = stores
    table = store._nodes_table()
    row = table.search().where("id = ':/docs/report0.pdf:6'").select(["text_vector"]).to_list()
    query = np.asarray(row[0]["text_vector"], dtype=np.float32)
    mine = [i for i, _ in _ids(store, query, user=None, kinds=[*KINDS])]
    assert mine == [i for i, _ in _ids(lance, query, user=None, kinds=[*KINDS])]
    assert set(mine[:2]) == {":/docs/report0.pdf:6", ":/docs/report0.pdf:7"}


def test_a_write_is_searched_at_once(stores: tuple[Store, Store]) -> None:
    store, _ = stores
    query = np.ones(DIM, dtype=np.float32)
    assert _ids(store, query, user=None, kinds=[*KINDS])
    before = store.exact._snapshot
    new = Node(id="new", kind=NodeKind.TEXT, doc_id="n", source="/docs/new.txt", text_vector=query)
    store.replace_sources("", ["/docs/new.txt"], [new], {})
    assert _ids(store, query, user=None, kinds=[*KINDS])[0][0] == "new"
    assert store.exact._snapshot is not before
    assert store.exact._snapshot is not None
    assert store.exact._snapshot.version == store.version()


def test_large_tables_are_left_to_lancedb(stores: tuple[Store, Store]) -> None:
    store, lance = stores
    store.exact.max_rows = 10  # fewer rows than the table holds
    query = np.ones(DIM, dtype=np.float32)
    table = store._nodes_table()
    assert store.exact.search(table, "text_vector", query, "TRUE", 5) is None
    kw = {"user": None, "kinds": [*KINDS]}
    assert _ids(store, query, **kw) == _ids(lance, query, **kw)  # LanceDB's own answer


def test_near_ties_are_told_apart_from_identical_vectors() -> None:
    a, b = np.ones(4, np.float32), np.full(4, 2.0, np.float32)
    assert not _near_ties(np.array([0.5, 0.5], np.float32), np.stack([a, a]))
    assert _near_ties(np.array([0.5, 0.5 + NEAR_TIE / 2], np.float32), np.stack([a, b]))
    assert not _near_ties(np.array([0.5, 0.5 + 10 * NEAR_TIE], np.float32), np.stack([a, b]))


def test_full_text_hits_come_from_memory_as_lancedb_returns_them(
    stores: tuple[Store, Store],
) -> None:
    store, lance = stores
    store.refresh_indexes()  # the full-text index
    lance.refresh_indexes()
    store.vector_search("text_vector", np.ones(DIM), user=None, kinds=[*KINDS], limit=1)
    assert store.exact.holds(store.version())
    found = 0
    for query in ("chunk 3", "chunk of", "nothing"):
        for user in (None, "alice"):
            kw = {"user": user, "kinds": [*KINDS], "limit": 20}
            mine = store.full_text_search(query, **kw)  # type: ignore[arg-type]
            theirs = lance.full_text_search(query, **kw)  # type: ignore[arg-type]
            assert [(h.node, h.score) for h in mine] == [(h.node, h.score) for h in theirs]
            found += len(mine)
    assert found >= 40
