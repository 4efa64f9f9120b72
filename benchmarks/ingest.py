"""Ingest throughput on MMLongBench-Doc's PDFs (../shared/data/mmlongbench_doc/documents).

Prints one JSON line: pages/s, images/s, nodes, peak RSS, store size, seconds per stage.

    .venv/bin/python benchmarks/ingest.py [--pipeline default] [--limit N] [--store DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

from mmrag import RAG

DATA = (
    Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmlongbench_doc" / "documents"
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pipeline", default="default")
    parser.add_argument("--limit", type=int, default=None, help="only the first N PDFs")
    parser.add_argument("--store", type=Path, default=None, help="keep the store here")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} not found (needs ../shared/data)", file=sys.stderr)
        return 0
    pdfs = sorted(args.data.glob("*.pdf"))[: args.limit]
    store = args.store or Path(tempfile.mkdtemp(prefix="mmrag-bench-")) / "store"
    if store.exists():
        shutil.rmtree(store)
    started = time.perf_counter()
    rag = RAG.open(store, pipeline=args.pipeline)
    report = rag.ingest(pdfs, show_progress=sys.stderr.isatty())
    seconds = time.perf_counter() - started
    again = time.perf_counter()
    rerun = rag.ingest(pdfs)
    rerun_seconds = time.perf_counter() - again
    stats = rag.stats()
    figures = {
        "benchmark": "ingest",
        "pipeline": args.pipeline,
        "pdfs": len(pdfs),
        "pages": report.pages,
        "images": report.images,
        "nodes": stats.nodes,
        "failed": len(report.failed),
        "seconds": round(seconds, 1),
        "pages_per_s": round(report.pages / seconds, 2),
        "images_per_s": round(report.images / seconds, 2),
        "stage_seconds": report.stage_seconds,
        "rerun_unchanged_seconds": round(rerun_seconds, 2),
        "rerun_unchanged_files": rerun.unchanged,
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "store_mb": round((stats.size_bytes or 0) / 1e6, 1),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
