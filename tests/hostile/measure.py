"""Run ``mmrag ingest`` on the hostile corpus and count what happened, case by case.

Usage (from a checkout; PYTHONPATH picks which mmrag is measured)::

    python tests/hostile/measure.py [--per-case] [--timeout 120] > result.json

The whole corpus is ingested once through the plain CLI (no ``--json``), in a child
process with an audit hook that logs every ``open`` of a forbidden file. Each bad entry
is then ``named`` (a line naming it with the reason), ``silent``, or the run ended in a
``traceback`` or ``hang``. ``--per-case`` also ingests each bad entry alone (with
``--include``), so one case that aborts the run does not hide the others.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import Hostile, build

FAST_YAML = (
    "text_embedder: {type: hashing, dim: 64, max_tokens: 64}\n"
    "image_embedder: null\nocr: null\nsummarizer: null\n"
)

#: Child: log opens of forbidden paths to argv[1], then run the CLI with argv[2:].
CHILD = """
import os, sys
log, given = sys.argv[1], [p for p in sys.argv[2].split("\\n") if p]
forbidden = given + [os.path.realpath(p) for p in given]  # /proc/self is /proc/<pid>
def hook(event, args):
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path = os.fsdecode(args[0])
        if any(path == f or path.startswith(f + "/") for f in forbidden):
            with open(log, "a") as fh:
                fh.write(path + "\\n")
sys.addaudithook(hook)
from mmrag.cli import app
sys.argv = ["mmrag", *sys.argv[3:]]
app()
"""


def run_cli(
    h: Hostile, store: Path, fast: Path, args: list[str], timeout: float, log: Path
) -> dict[str, Any]:
    forbidden = "\n".join(str(p) for p in [*h.forbidden, h.outside])
    cmd = [sys.executable, "-c", CHILD, str(log), forbidden, "ingest", *args,
           "-s", str(store), "-p", str(fast)]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"outcome": "hang", "output": ""}
    output = done.stdout + done.stderr
    outcome = "traceback" if "Traceback (most recent call last)" in output else "exit"
    return {"outcome": outcome, "exit": done.returncode, "output": output}


def named(output: str, path: str, words: tuple[str, ...]) -> bool:
    """Whether one line names ``path`` and holds every word of the reason."""
    for line in output.replace(path, "\x00").splitlines():
        if "\x00" in line and all(w in line.lower() for w in words):
            return True
    return False


def judge(h: Hostile, run: dict[str, Any], store: Path, log: Path) -> dict[str, Any]:
    from mmrag import RAG

    output = run["output"]
    stored: set[str] = set()
    if (store / "files.lance").exists() or any(store.glob("*.lance")):
        stored = set(RAG.open(store, create=False).store.files.records(""))
    cases: dict[str, str] = {}
    for bad in h.bad:
        path = str(h.root / bad.rel)
        if run["outcome"] in ("hang", "traceback"):  # a traceback may name it too
            cases[bad.name] = run["outcome"]
        elif named(output, path, bad.words):
            cases[bad.name] = "named"
        else:
            cases[bad.name] = "silent"
    for link in h.links:
        ok = any(link.src in line and all(w in line.lower() for w in link.words)
                 for line in output.splitlines())  # fmt: skip
        cases[f"link:{link.name}"] = (
            "named" if ok else run["outcome"] if run["outcome"] != "exit" else "silent"
        )
    for good in h.good:
        cases[f"good:{good.name}"] = "stored" if str(h.root / good.rel) in stored else "lost"
    opened = sorted(set(log.read_text().split())) if log.exists() else []
    counts: dict[str, int] = {}
    for value in cases.values():
        counts[value] = counts.get(value, 0) + 1
    return {"outcome": run["outcome"], "exit": run.get("exit"), "counts": counts,
            "forbidden_opened": opened, "cases": cases}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--per-case", action="store_true")
    parser.add_argument("--case-timeout", type=float, default=60.0)
    parser.add_argument("--huge-line-bytes", type=int, default=1_000_000)
    parser.add_argument("--html-depth", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        h = build(base / "corpus", huge_line_bytes=args.huge_line_bytes, html_depth=args.html_depth)
        fast = base / "fast.yaml"
        fast.write_text(FAST_YAML, encoding="utf-8")
        result: dict[str, Any] = {"entries": len(list(h.root.rglob("*"))), "cases": h.cases}
        log = base / "opened.log"
        run = run_cli(h, base / "store", fast, [str(h.root)], args.timeout, log)
        result["whole"] = judge(h, run, base / "store", log)
        result["whole"]["output_tail"] = run["output"][-3000:]
        if args.per_case:
            per: dict[str, str] = {}
            for i, bad in enumerate(h.bad):
                store, log_i = base / f"store{i}", base / f"opened{i}.log"
                one = run_cli(h, store, fast, [str(h.root), "-i", bad.rel, "-i", "good/plain.txt"],
                              args.case_timeout, log_i)  # fmt: skip
                per[bad.name] = judge(h, one, store, log_i)["cases"][bad.name]
            counts: dict[str, int] = {}
            for value in per.values():
                counts[value] = counts.get(value, 0) + 1
            result["per_case"] = {"counts": counts, "cases": per}
    json.dump(result, sys.stdout, indent=1, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
