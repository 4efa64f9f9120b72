"""How long quick CLI commands take, each in a fresh process (a cold start, as a user sees).

Runs ``mmrag --help``, ``mmrag pipelines``, ``mmrag stats`` and ``mmrag memory list`` on
a store ``--runs`` times each, alternating, and prints one JSON line: the median wall time
and the median CPU time (user + system) per command. ``stats`` and ``memory list`` run
twice: as usual (their answer saved on the unchanged store, see mmrag.store.summary) and
``*_uncached`` (the saved answers deleted first, as on the first run after a change made
by another program). Wall time is what a user waits and
depends on the machine's load (reported as ``load_1min``); CPU time depends on it much
less. With ``--search QUERY`` (and a store built with models), also the first search of
a fresh process, split as its footer reports it: model loading and retrieval.

    .venv/bin/python benchmarks/cli_start.py                        # a small temporary store
    .venv/bin/python benchmarks/cli_start.py --store demo-corpus/store --search "revenue"
    mkdir /tmp/before && git archive OLD_COMMIT | tar -x -C /tmp/before
    .venv/bin/python benchmarks/cli_start.py --checkout /tmp/before   # the same, before

Without ``--store`` the commands run on a temporary store of one text file.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_FAST_PIPELINE = (
    "text_embedder: {type: hashing, dim: 64, max_tokens: 64}\n"
    "image_embedder: null\nocr: null\nsummarizer: null\n"
)


#: The ``mmrag`` command of the checkout ``sys.argv[1]``, whatever is installed.
_RUN = "import sys; sys.path.insert(0, sys.argv.pop(1)); from mmrag.cli import app; app()"


def mmrag_command(checkout: Path) -> list[str]:
    """``mmrag`` as a fresh interpreter runs it from ``checkout`` (the 4th item)."""
    return [sys.executable, "-c", _RUN, str(checkout)]


def timed(command: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, its stderr) for one fresh process, run in
    the checkout measured (named pipelines are found in ./pipelines first)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        command, cwd=command[3], capture_output=True, text=True, timeout=600, check=False
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.stderr


def small_store(folder: Path, mmrag: list[str]) -> Path:
    """A store of one text file, built with a model-free pipeline."""
    (folder / "docs").mkdir()
    (folder / "docs" / "a.txt").write_text("Tapirs have short trunks.", encoding="utf-8")
    (folder / "fast.yaml").write_text(_FAST_PIPELINE, encoding="utf-8")
    store = folder / "store"
    ingest = ["ingest", str(folder / "docs"), "--store", str(store)]
    timed([*mmrag, *ingest, "--pipeline", str(folder / "fast.yaml")])
    return store


def forget_saved_answers(store: Path, command: str) -> None:
    """Delete the answers the store saved for ``command`` (``stats`` or ``memory``)."""
    prefix = {"stats": "stats:", "memory": "memory list:"}[command]
    for entry in (store / ".mmrag-cache").glob("*.json"):
        try:
            key = json.loads(entry.read_text(encoding="utf-8")).get("key", "")
        except (OSError, ValueError):
            continue
        if key.startswith(prefix):
            entry.unlink(missing_ok=True)


def first_search(mmrag: list[str], store: Path, query: str, runs: int) -> dict[str, float]:
    """Median seconds of a fresh process's first search: model loading vs retrieval."""
    found: dict[str, list[float]] = {"wall": [], "load": [], "retrieve": []}
    for _ in range(runs):
        wall, _, stderr = timed([*mmrag, "search", query, "--store", str(store)])
        footer = dict(re.findall(r"(load|retrieve) ([0-9.]+)s", stderr))
        found["wall"].append(wall)
        for key in ("load", "retrieve"):
            found[key].append(float(footer.get(key, "nan")))
    return {key: round(statistics.median(values), 3) for key, values in found.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="Fresh processes per command.")
    parser.add_argument("--store", type=Path, help="Store to run stats and memory list on.")
    parser.add_argument("--user", default="alice", help="Whose memories to list.")
    parser.add_argument("--search", help="Also time a first search for this query.")
    parser.add_argument(
        "--checkout",
        type=Path,
        default=ROOT,
        help="Measure the mmrag package of this checkout (e.g. an older commit's, exported "
        "with git worktree) with this interpreter's libraries.",
    )
    args = parser.parse_args()
    checkout = args.checkout.resolve()
    mmrag = mmrag_command(checkout)

    with tempfile.TemporaryDirectory() as tmp:
        store = args.store or small_store(Path(tmp), mmrag)
        commands = {
            "help": ["--help"],
            "pipelines": ["pipelines"],
            "stats": ["stats", "--store", str(store)],
            "memory_list": ["memory", "list", "--user", args.user, "--store", str(store)],
        }
        commands["stats_uncached"] = commands["stats"]
        commands["memory_list_uncached"] = commands["memory_list"]
        wall: dict[str, list[float]] = {name: [] for name in commands}
        cpu: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.runs):  # alternating, so load changes hit every command alike
            for name, command in commands.items():
                if name.endswith("_uncached"):
                    forget_saved_answers(Path(store), command[0])
                seconds, cpu_seconds, _ = timed([*mmrag, *command])
                wall[name].append(seconds)
                cpu[name].append(cpu_seconds)
        result: dict[str, Any] = {
            "benchmark": "cli_start",
            "runs": args.runs,
            "checkout": str(checkout),
            "store": str(args.store) if args.store else "temporary (1 text file)",
            "median_wall_s": {k: round(statistics.median(v), 3) for k, v in wall.items()},
            "median_cpu_s": {k: round(statistics.median(v), 3) for k, v in cpu.items()},
            "max_wall_s": {k: round(max(v), 3) for k, v in wall.items()},
            "load_1min": round(os.getloadavg()[0], 2),
            "cpus": os.cpu_count(),
        }
        if args.search:
            result["first_search_s"] = first_search(mmrag, store, args.search, args.runs)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
