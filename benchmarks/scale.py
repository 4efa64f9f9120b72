"""Vector and hybrid search at scale: a store of N nodes written through mmrag's own
write path (``Store.replace_sources``, in batches of whole files), then indexed by the
store's own policy (``Store.refresh_indexes``), then queried.

Data: clustered synthetic 384-d unit vectors, not model embeddings (see scale_corpus.py
for why and how); text from a made-up vocabulary for BM25; half the rows shared, the rest
spread over ``--users`` namespaces; one row in 20 an image row with a 1280-d image
vector (kept in the store's image-vectors table, and searched as well). Queries are
held out: new samples of a topic (vector-only, hybrid), or a perturbed copy of one of a
user's own rows (hybrid + user filter). Exact top-10 for recall comes from numpy over
the same filter. Query embedding is skipped (each query's vector is looked up), so
latency is the search and the ranking, not the model.

Prints one JSON line: write throughput, index build time, disk size, peak RSS, and for
vector-only, hybrid and hybrid + user filter the p50/p95 latency of ``Retriever.retrieve``
and of the bare store search, with recall@10; and the same for a query image against the
image vectors.

    .venv/bin/python benchmarks/scale.py --nodes 100000 [--users 1000] [--queries 200]
    .venv/bin/python benchmarks/scale.py --nodes 100000 --sweep   # index candidates
    .venv/bin/python benchmarks/scale.py --nodes 200000 --sweep --only-hnsw  # 1 vs 2, 4 graphs
    # query settings on a store kept by an earlier run (--store DIR), without rebuilding
    .venv/bin/python benchmarks/scale.py --nodes 1000000 --store DIR --reuse --search 150:5 150:0
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import scale_measure as measure
from scale_corpus import DIM, IMAGE_DIM, Corpus

from mmrag.components import Components
from mmrag.config import load_pipeline
from mmrag.retrieve import Retriever
from mmrag.store import Store, indexing

BATCH = 5_000


class LookupEmbedder:
    """Stands in for the text embedder: each benchmark query's vector, looked up by text."""

    name = "scale-benchmark-lookup"
    dim = DIM
    max_tokens = 256

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def tokenize(self, text: str) -> list[int]:
        return list(range(len(text.split())))

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        return np.stack([self.vectors[t] for t in texts])


def build(store: Store, corpus: Corpus) -> dict[str, Any]:
    store.create_nodes_table(DIM, IMAGE_DIM)
    started = time.perf_counter()
    for user, sources, rows in corpus.batches(BATCH):
        images = {r.node.image_id: r.image for r in rows if r.image and r.node.image_id}
        store.replace_sources(user, sources, [r.node for r in rows], images)
    write_s = time.perf_counter() - started
    started = time.perf_counter()
    store.refresh_indexes()
    index_s = time.perf_counter() - started
    return {
        "write_s": round(write_s, 1),
        "write_nodes_per_s": round(corpus.nodes / write_s),
        "index_build_s": round(index_s, 1),
    }


def retriever_for(store: Store, queries: list[measure.Query]) -> Retriever:
    config = load_pipeline("default").model_copy(update={"image_embedder": None})
    components = Components(config)
    components.text_embedder = LookupEmbedder({q.text: q.vector for q in queries})
    return Retriever(store, components)


def run(store: Store, corpus: Corpus, queries: int) -> dict[str, Any]:
    shared = measure.make_queries(corpus, queries, with_user=False, seed=1)
    personal = measure.make_queries(corpus, queries, with_user=True, seed=2)
    retriever = retriever_for(store, shared + personal)
    exact = measure.ExactSearch(corpus)
    candidates = retriever.components.config.retrieval.candidates
    for q in shared[:5] + personal[:5]:  # warm caches and lazy imports
        retriever.retrieve(q.text, user=q.user, k=measure.K)
    images = measure.image_queries(corpus, queries, seed=3)
    return {
        "vector": {"store": measure.bare_vector(store, exact, shared)},
        "image_vector": {"store": measure.bare_image(store, images)},
        "hybrid": {
            "store": measure.bare_hybrid(store, shared, candidates),
            "store_vector": measure.bare_vector(store, exact, shared),
            "retrieve": measure.retrieve(retriever, store, exact, shared),
        },
        "hybrid_user": {
            "store": measure.bare_hybrid(store, personal, candidates),
            "store_vector": measure.bare_vector(store, exact, personal),
            "retrieve": measure.retrieve(retriever, store, exact, personal),
        },
    }


def sweep(
    store: Store, corpus: Corpus, queries: int, *, only_hnsw: bool = False
) -> list[dict[str, Any]]:
    """Bare vector search under each candidate index and query setting (``only_hnsw``:
    the HNSW candidates only, one graph against several)."""
    from lancedb.index import IvfHnswSq, IvfPq, IvfSq

    shared = measure.make_queries(corpus, queries, with_user=False, seed=1)
    personal = measure.make_queries(corpus, queries, with_user=True, seed=2)
    exact = measure.ExactSearch(corpus)
    table = store._nodes_table()
    n = corpus.nodes
    results = []

    def probe(label: str, settings: list[indexing.VectorSearchParams], build_s: float) -> None:
        for params in settings:
            store.search_params = params
            results.append(
                {
                    "index": label,
                    "build_s": round(build_s, 1),
                    "params": {k: getattr(params, k) for k in ("nprobes", "refine_factor", "ef")},
                    "vector": measure.bare_vector(store, exact, shared),
                    "user": measure.bare_vector(store, exact, personal),
                }
            )
            print(json.dumps(results[-1]), file=sys.stderr)

    probe("flat", [indexing.VectorSearchParams()], 0.0)
    p = indexing.VectorSearchParams
    candidates: list[tuple[str, Any, list[indexing.VectorSearchParams]]] = [
        ("IVF_PQ default", IvfPq(distance_type="cosine"), [p(), p(nprobes=50)]),
        (
            f"IVF_PQ p={n // 4096} sub=48",
            IvfPq(distance_type="cosine", num_partitions=max(1, n // 4096), num_sub_vectors=48),
            [
                p(nprobes=20, refine_factor=10),
                p(nprobes=40, refine_factor=10),
                p(nprobes=40, refine_factor=20),
            ],
        ),
        (
            f"IVF_SQ p={n // 4096}",
            IvfSq(distance_type="cosine", num_partitions=max(1, n // 4096)),
            [p(nprobes=20, refine_factor=5), p(nprobes=40, refine_factor=5)],
        ),
        (
            "IVF_HNSW_SQ default",
            IvfHnswSq(distance_type="cosine"),
            [p(ef=64), p(ef=150), p(ef=150, refine_factor=5)],
        ),
        # More partitions: one graph each, built in parallel, all walked by a query.
        *(
            (
                f"IVF_HNSW_SQ p={parts}",
                IvfHnswSq(distance_type="cosine", num_partitions=parts),
                [p(nprobes=20, ef=150, refine_factor=5)],
            )
            for parts in (2, 4)
        ),
    ]
    if only_hnsw:
        candidates = [c for c in candidates if c[0].startswith("IVF_HNSW_SQ")]
    for label, config, settings in candidates:
        started = time.perf_counter()
        table.create_index("text_vector", config=config, replace=True)
        probe(label, settings, time.perf_counter() - started)
    return results


def _megabytes(folder: Path) -> float:
    return round(sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6, 1)


def search_settings(specs: list[str]) -> list[indexing.VectorSearchParams]:
    """``EF:REFINE`` strings (refine 0: none) as query settings, nprobes as shipped."""
    settings = []
    for spec in specs:
        ef, refine = (int(x) for x in spec.split(":"))
        settings.append(
            indexing.VectorSearchParams(
                nprobes=indexing.SEARCH.nprobes, ef=ef, refine_factor=refine or None
            )
        )
    return settings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--store", type=Path, default=None, help="keep the store here")
    parser.add_argument("--sweep", action="store_true", help="compare ANN index candidates")
    parser.add_argument(
        "--only-hnsw", action="store_true", help="with --sweep: the IVF_HNSW_SQ candidates only"
    )
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="query the store an earlier run left at --store (same --nodes and --users) "
        "instead of building it again",
    )
    parser.add_argument(
        "--search",
        nargs="+",
        metavar="EF:REFINE",
        help="query settings to compare, e.g. 150:5 150:0 (refine 0: none); "
        "default: the shipped ones",
    )
    args = parser.parse_args()
    if args.reuse and args.store is None:
        parser.error("--reuse needs --store")
    folder = args.store or Path(tempfile.mkdtemp(prefix="mmrag-scale-")) / "store"
    if folder.exists() and not args.reuse:
        shutil.rmtree(folder)
    corpus = Corpus(args.nodes, args.users)
    store = Store.open(folder)
    if args.sweep:
        indexing.VECTOR_INDEX_MIN_ROWS = sys.maxsize  # only the scalar indexes
    report: dict[str, Any] = {
        "nodes": args.nodes,
        "users": args.users,
        "queries": args.queries,
        "data": "clustered synthetic 384-d unit vectors (16-d subspace per cluster), "
        "made-up vocabulary text; query vectors looked up, not embedded",
    }
    if args.reuse:
        for _ in corpus.batches(BATCH):  # the rows again, for exact search's mirrors
            pass
    else:
        report |= build(store, corpus)
    if args.sweep:
        report["sweep"] = sweep(store, corpus, args.queries, only_hnsw=args.only_hnsw)
    elif args.search:
        report["by_search"] = []
        for params in search_settings(args.search):
            store.search_params = params
            found = run(store, corpus, args.queries)
            report["by_search"].append({"ef": params.ef, "refine": params.refine_factor} | found)
            print(json.dumps(report["by_search"][-1]), file=sys.stderr)
    else:
        report["index_coverage"] = [c.to_dict() for c in store.index_coverage()]
        report |= run(store, corpus, args.queries)
    if args.reuse:
        print(json.dumps(report))
        return 0
    report["disk_mb"] = _megabytes(folder)
    for table in (
        store._nodes_table(),
        store._image_vectors_table(),
        store.documents.table,
        store.files.table,
    ):
        if table is not None:
            table.optimize(cleanup_older_than=timedelta(0))
    report["disk_mb_latest_version"] = _megabytes(folder)  # old versions pruned
    report["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    print(json.dumps(report))
    if args.store is None:
        shutil.rmtree(folder.parent, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
