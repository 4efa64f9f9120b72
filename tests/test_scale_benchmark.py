"""benchmarks/scale.py end to end on a tiny store: one JSON line with every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_scale_benchmark_smoke(tmp_path: Path) -> None:
    command = [sys.executable, str(ROOT / "benchmarks" / "scale.py"), "--nodes", "1200"]
    command += ["--users", "20", "--queries", "6", "--store", str(tmp_path / "store")]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=True)
    lines = done.stdout.strip().splitlines()
    assert len(lines) == 1
    report = json.loads(lines[0])
    for key in ("write_nodes_per_s", "index_build_s", "disk_mb", "peak_rss_mb"):
        assert report[key] > 0
    assert report["vector"]["store"]["recall_at_10"] == 1.0  # exact search below the threshold
    assert report["image_vector"]["store"]["recall_at_10"] == 1.0
    for mode in ("hybrid", "hybrid_user"):
        assert {"p50_ms", "p95_ms"} <= set(report[mode]["store"])
        assert report[mode]["retrieve"]["recall_at_10"] == 1.0
        assert report[mode]["store_vector"]["recall_at_10"] == 1.0
    coverage = {ix["name"]: ix for ix in report["index_coverage"]}
    assert coverage["text_idx"]["unindexed_rows"] == 0
