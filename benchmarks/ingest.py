"""Ingest throughput on MMLongBench-Doc's PDFs (../shared/data/mmlongbench_doc/documents).

Prints one JSON line: pages/s, images/s, nodes, peak RSS, store size, seconds per stage.

    .venv/bin/python benchmarks/ingest.py [--pipeline default] [--limit N] [--store DIR]

``--ray`` ingests the same PDFs twice in one run, each in a fresh process: locally, and
through a Ray cluster the benchmark starts on 127.0.0.1 (a head and one worker node, one
CPU each); it prints both throughputs and Ray's overhead (Ray's seconds over local's,
minus one; the cluster's start-up is reported apart, not counted). ``--copies N``
ingests N copies of each PDF under other names, to check that memory stays bounded.
Peak RSS is sampled every 0.1 s: this process locally; with Ray, the driver plus every
process of the cluster (nodes, workers).

    .venv/bin/python benchmarks/ingest.py --ray --limit 5 [--copies 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

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
    parser.add_argument("--ray", action="store_true", help="also through a local Ray cluster")
    parser.add_argument("--copies", type=int, default=1, help="ingest N copies of each PDF")
    parser.add_argument("--mode", choices=["local", "ray"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} not found (needs ../shared/data)", file=sys.stderr)
        return 0
    if args.ray and args.mode is None:
        print(json.dumps(compare(args)))
        return 0
    pdfs = sorted(args.data.glob("*.pdf"))[: args.limit]
    store = args.store or Path(tempfile.mkdtemp(prefix="mmrag-bench-")) / "store"
    if store.exists():
        shutil.rmtree(store)
    with corpus(pdfs, args.copies) as files:
        figures = ingest(files, store, args.pipeline, ray=args.mode == "ray")
    figures.update(pdfs=len(pdfs), copies=args.copies)
    print(json.dumps(figures))
    return 0


def ingest(files: list[Path], store: Path, pipeline: str, *, ray: bool) -> dict[str, Any]:
    """Ingest ``files`` into a new store, then again (all unchanged); the figures."""
    with _cluster(ray) as (address, pids, cluster_seconds), PeakRss(pids) as rss:
        started = time.perf_counter()
        rag = RAG.open(store, pipeline=pipeline)
        report = rag.ingest(files, show_progress=sys.stderr.isatty(), cluster=address)
        seconds = time.perf_counter() - started
        again = time.perf_counter()
        rerun = rag.ingest(files, cluster=address)
        rerun_seconds = time.perf_counter() - again
    stats = rag.stats()
    return {
        "benchmark": "ingest",
        "mode": "ray" if ray else "local",
        "pipeline": pipeline,
        "files": len(files),
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
        "peak_rss_mb": round(max(rss.peak, _own_maxrss()) / 2**20, 1),
        "ray_cluster_start_seconds": cluster_seconds,
        "store_mb": round((stats.size_bytes or 0) / 1e6, 1),
        # store_mb counts the versions LanceDB keeps for a week; this, the data alone.
        "live_mb": round((stats.live_bytes or 0) / 1e6, 1),
    }


def compare(args: argparse.Namespace) -> dict[str, Any]:
    """Local and Ray ingest of the same files, each in a fresh process: the overhead."""
    runs = {}
    for mode in ("local", "ray"):
        command = [sys.executable, __file__, "--mode", mode, "--pipeline", args.pipeline]
        command += ["--copies", str(args.copies), "--data", str(args.data)]
        if args.limit is not None:
            command += ["--limit", str(args.limit)]
        done = subprocess.run(command, check=True, capture_output=True, text=True)
        runs[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    local, ray = runs["local"], runs["ray"]
    return {
        "benchmark": "ingest_ray",
        "pipeline": args.pipeline,
        "cpus": os.cpu_count(),
        "pdfs": local["pdfs"],
        "copies": args.copies,
        "pages": local["pages"],
        "same_nodes": local["nodes"] == ray["nodes"],
        "local_seconds": local["seconds"],
        "ray_seconds": ray["seconds"],
        "local_pages_per_s": local["pages_per_s"],
        "ray_pages_per_s": ray["pages_per_s"],
        "ray_overhead": round(ray["seconds"] / local["seconds"] - 1, 3),
        "ray_cluster_start_seconds": ray["ray_cluster_start_seconds"],
        "local_rerun_unchanged_seconds": local["rerun_unchanged_seconds"],
        "ray_rerun_unchanged_seconds": ray["rerun_unchanged_seconds"],
        "local_peak_rss_mb": local["peak_rss_mb"],
        "ray_peak_rss_mb": ray["peak_rss_mb"],
        "local": local,
        "ray": ray,
    }


@contextmanager
def corpus(pdfs: list[Path], copies: int) -> Iterator[list[Path]]:
    """The PDFs themselves, or ``copies`` copies of each under other names."""
    if copies == 1:
        yield pdfs
        return
    folder = Path(tempfile.mkdtemp(prefix="mmrag-copies-"))
    try:
        files = []
        for n in range(copies):
            for pdf in pdfs:
                files.append(folder / f"copy{n}-{pdf.name}")
                shutil.copyfile(pdf, files[-1])
        yield files
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def _cluster(
    ray: bool,
) -> Iterator[tuple[str | None, Callable[[], list[int]], float | None]]:
    """A local Ray cluster's address, its processes and its start-up seconds, or none."""
    if not ray:
        yield None, list, None
        return
    from mmrag.ingest.ray_cluster import LocalRayCluster

    started = time.perf_counter()
    cluster = LocalRayCluster(workers=1, cpus_per_node=1)
    with cluster as address:
        yield address, lambda: _descendants(cluster.pids()), round(time.perf_counter() - started, 1)


class PeakRss:
    """Highest sum of RSS of this process and ``others()``, sampled every 0.1 s."""

    def __init__(self, others: Callable[[], list[int]]) -> None:
        self.others = others
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            total = sum(_rss(pid) for pid in [os.getpid(), *self.others()])
            self.peak = max(self.peak, total)
            if self._done.wait(0.1):
                return


def _rss(pid: int) -> int:
    try:
        pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return 0


def _descendants(roots: list[int]) -> list[int]:
    """``roots`` and every process below them (from /proc: Linux only)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], list(roots)
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _own_maxrss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


if __name__ == "__main__":
    raise SystemExit(main())
