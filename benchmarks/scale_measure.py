"""Latency and recall of the scale benchmark's queries (see scale.py)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scale_corpus import DIM, Corpus

from mmrag.retrieve import Retriever
from mmrag.schema import TEXT_SEARCHABLE_KINDS, Node, NodeKind
from mmrag.store import Hit, Store
from mmrag.store.filters import in_list
from mmrag.store.tables import NODE_COLUMNS, row_to_node

K = 10
IMAGE = [NodeKind.IMAGE]


@dataclass(slots=True)
class Query:
    text: str
    vector: np.ndarray
    user: str | None
    user_code: int


def make_queries(corpus: Corpus, n: int, *, with_user: bool, seed: int) -> list[Query]:
    """Held-out queries: new samples of a topic (shared), or a perturbed copy of one of a
    user's own text rows (what a personal lookup looks like) plus a few of its words."""
    rng = np.random.default_rng(seed)
    queries = []
    text_rows = np.flatnonzero(~corpus.is_image & (corpus.user_of > 0))
    for _ in range(n):
        if with_user:
            g = int(rng.choice(text_rows))
            noise = rng.standard_normal(DIM).astype(np.float32)
            vector = corpus.text_vectors[g] + 0.5 * noise / np.linalg.norm(noise)
            vector /= np.linalg.norm(vector)
            words = corpus.texts[g].split()
            text = " ".join(rng.choice(words, size=4, replace=False))
            c = int(corpus.user_of[g])
            queries.append(Query(text, vector, corpus.user_name(c), c))
        else:
            c = int(rng.integers(0, corpus.clusters))
            vector = corpus.sample(np.array([c]), rng)[0]
            queries.append(Query(corpus.text(c, rng, length=5), vector, None, 0))
    return queries


class ExactSearch:
    """Brute-force cosine top-k in numpy over the rows a query may see."""

    def __init__(self, corpus: Corpus) -> None:
        self.corpus = corpus

    def top(self, query: Query, limit: int) -> list[int]:
        c = self.corpus
        allowed = ~c.is_image & ((c.user_of == 0) | (c.user_of == query.user_code))
        rows = np.flatnonzero(allowed)
        scores = c.text_vectors[rows] @ query.vector
        best = np.argpartition(-scores, min(limit, len(rows) - 1))[:limit]
        return [int(rows[i]) for i in best[np.argsort(-scores[best])]]

    def ids(self, query: Query, limit: int = K) -> list[str]:
        return [self.corpus.ids[g] for g in self.top(query, limit)]

    def as_store_search(self, store: Store, queries: dict[bytes, Query]) -> Callable[..., Any]:
        """A drop-in for ``store.find_vector`` (what the retriever calls) answering from
        exact search (reference)."""
        table = store._nodes_table()

        def vector_search(
            column: str, vector: np.ndarray, *, user: Any, kinds: Any, limit: int, where: Any = None
        ) -> list[Hit]:
            query = queries[vector.astype(np.float32).tobytes()]
            top = self.top(query, limit)
            ids = [self.corpus.ids[g] for g in top]
            rows = table.search().where(in_list("id", ids)).select(NODE_COLUMNS).to_list()
            by_id: dict[str, Node] = {r["id"]: row_to_node(r) for r in rows}
            scores = self.corpus.text_vectors[top] @ query.vector
            return [Hit(by_id[i], float(s)) for i, s in zip(ids, scores, strict=True)]

        return vector_search


def recall(found: list[str], truth: list[str]) -> float:
    return len(set(found[:K]) & set(truth[:K])) / max(1, min(K, len(truth)))


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
    }


def bare_vector(store: Store, exact: ExactSearch, queries: list[Query]) -> dict[str, Any]:
    """``Store.vector_search`` alone: latency and recall@10 against exact search."""
    times, recalls = [], []
    for q in queries:
        start = time.perf_counter()
        hits = store.vector_search(
            "text_vector", q.vector, user=q.user, kinds=TEXT_SEARCHABLE_KINDS, limit=K
        )
        times.append(time.perf_counter() - start)
        recalls.append(recall([h.node.id for h in hits], exact.ids(q)))
    return {**percentiles(times), "recall_at_10": round(float(np.mean(recalls)), 4)}


def image_queries(corpus: Corpus, n: int, seed: int) -> list[tuple[np.ndarray, list[str]]]:
    """Query-image vectors (a perturbed copy of a stored shared image's) with the ids of
    their exact top-10 among the shared images."""
    rng = np.random.default_rng(seed)
    rows = np.array([g for g in corpus.image_vectors if corpus.user_of[g] == 0])
    matrix = np.stack([corpus.image_vectors[g] for g in rows])
    queries = []
    for g in rng.choice(rows, size=n):
        noise = np.asarray(rng.standard_normal(int(matrix.shape[1])), dtype=np.float32)
        vector = corpus.image_vectors[int(g)] + 0.5 * noise / np.linalg.norm(noise)
        vector /= np.linalg.norm(vector)
        best = np.argsort(-(matrix @ vector))[:K]
        queries.append((vector, [corpus.ids[int(rows[i])] for i in best]))
    return queries


def bare_image(store: Store, queries: list[tuple[np.ndarray, list[str]]]) -> dict[str, Any]:
    """``Store.vector_search`` over the image vectors: latency and recall@10."""
    times, recalls = [], []
    for vector, truth in queries:
        start = time.perf_counter()
        hits = store.vector_search("image_vector", vector, user=None, kinds=IMAGE, limit=K)
        times.append(time.perf_counter() - start)
        recalls.append(recall([h.node.id for h in hits], truth))
    return {**percentiles(times), "recall_at_10": round(float(np.mean(recalls)), 4)}


def bare_hybrid(store: Store, queries: list[Query], candidates: int) -> dict[str, Any]:
    """What the retriever asks of the store for one text query: vector + BM25 lists."""
    times = []
    for q in queries:
        start = time.perf_counter()
        store.vector_search(
            "text_vector", q.vector, user=q.user, kinds=TEXT_SEARCHABLE_KINDS, limit=candidates
        )
        store.full_text_search(q.text, user=q.user, kinds=TEXT_SEARCHABLE_KINDS, limit=candidates)
        times.append(time.perf_counter() - start)
    return percentiles(times)


def retrieve(
    retriever: Retriever, store: Store, exact: ExactSearch, queries: list[Query]
) -> dict[str, Any]:
    """``Retriever.retrieve(k=10)`` (fusion and relevancy scoring included): latency, its
    own stage timings, and recall@10 of its result against the same call answered with
    exact vector search."""
    times, stages, results = [], [], []
    for q in queries:
        start = time.perf_counter()
        found = retriever.retrieve(q.text, user=q.user, k=K)
        times.append(time.perf_counter() - start)
        stages.append(found.timings)
        results.append([item.node.id for item in found.items])
    by_vector = {q.vector.astype(np.float32).tobytes(): q for q in queries}
    ann = store.find_vector
    store.find_vector = exact.as_store_search(store, by_vector)  # type: ignore[method-assign]
    try:
        reference = [
            [i.node.id for i in retriever.retrieve(q.text, user=q.user, k=K).items] for q in queries
        ]
    finally:
        store.find_vector = ann  # type: ignore[method-assign]
    stage_ms = {
        name: round(float(np.median([s.get(name, 0.0) for s in stages])) * 1000, 2)
        for name in ("candidates", "score")
    }
    return {
        **percentiles(times),
        "stage_p50_ms": stage_ms,
        "recall_at_10": round(
            float(np.mean([recall(r, t) for r, t in zip(results, reference, strict=True)])), 4
        ),
    }
