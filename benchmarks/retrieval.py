"""Page retrieval on MMLongBench-Doc: hit@1/5/10 and MRR of the gold evidence page.

Searches each answerable question within its own document and across the whole corpus,
ranks pages by their best node, and prints one JSON line with the figures, a breakdown
by evidence source, and query latency.

    .venv/bin/python benchmarks/retrieval.py [--store DIR] [--pipeline default]

Without --store (or with an empty one) it first ingests the 39 PDFs (~4-5 minutes).
"""

from __future__ import annotations

import argparse
import ast
import json
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from mmrag import RAG

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmlongbench_doc"
CUTOFFS = (1, 5, 10)


def load_questions(data: Path) -> list[dict[str, Any]]:
    """Answerable questions whose evidence pages exist."""
    samples = json.loads((data / "samples.json").read_text(encoding="utf-8"))
    kept = []
    for s in samples:
        pages = [int(p) for p in ast.literal_eval(s["evidence_pages"] or "[]")]
        if pages and s["answer"] != "Not answerable":
            sources = ast.literal_eval(s["evidence_sources"] or "[]")
            kept.append({**s, "pages": set(pages), "sources": sources or ["Unknown"]})
    return kept


def ranked_pages(
    rag: RAG, question: str, doc: str | None, limit: int = 10
) -> list[tuple[str, int]]:
    hits = rag.search(question, k=50, source=doc)
    pages: list[tuple[str, int]] = []
    for hit in hits:
        key = (Path(hit.node.source).name, hit.node.page or 0)
        if key not in pages:
            pages.append(key)
    return pages[:limit]


def score(ranking: list[tuple[str, int]], doc: str, gold: set[int]) -> dict[str, float]:
    ranks = [i for i, (name, page) in enumerate(ranking, start=1) if name == doc and page in gold]
    first = ranks[0] if ranks else None
    out = {f"hit@{k}": float(first is not None and first <= k) for k in CUTOFFS}
    out["mrr"] = 1.0 / first if first else 0.0
    return out


def mean_metrics(rows: list[dict[str, float]]) -> dict[str, float]:
    return {m: round(statistics.fmean(r[m] for r in rows), 3) for m in rows[0]} if rows else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--pipeline", default=None)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    args = parser.parse_args()
    if not (args.data / "samples.json").is_file():
        print(f"skipped: {args.data} not found (needs ../shared/data)", file=sys.stderr)
        return 0
    store = args.store or Path(tempfile.mkdtemp(prefix="mmrag-retrieval-")) / "store"
    rag = RAG.open(store, pipeline=args.pipeline)
    if rag.stats().files == 0:
        rag.ingest([args.data / "documents"], show_progress=sys.stderr.isatty())
    questions = load_questions(args.data)[: args.limit]
    rag.search("warm-up query")
    results: dict[str, list[dict[str, float]]] = {"within_doc": [], "corpus": []}
    by_source: dict[str, list[dict[str, float]]] = defaultdict(list)
    latencies: list[float] = []
    for q in questions:
        started = time.perf_counter()
        within = score(ranked_pages(rag, q["question"], q["doc_id"]), q["doc_id"], q["pages"])
        latencies.append(time.perf_counter() - started)
        corpus = score(ranked_pages(rag, q["question"], None), q["doc_id"], q["pages"])
        results["within_doc"].append(within)
        results["corpus"].append(corpus)
        for source in q["sources"]:
            by_source[source].append(within)
    latencies.sort()
    figures = {
        "benchmark": "retrieval",
        "pipeline": rag.config.name,
        "questions": len(questions),
        "within_doc": mean_metrics(results["within_doc"]),
        "corpus": mean_metrics(results["corpus"]),
        "within_doc_by_evidence_source": {
            s: {"n": len(rows), **mean_metrics(rows)} for s, rows in sorted(by_source.items())
        },
        "latency_ms": {
            "median": round(1000 * statistics.median(latencies), 1),
            "p95": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1),
        },
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
