"""Load on ``mmrag serve``: concurrent clients against a warm server over loopback.

Starts ``mmrag serve`` on the given store (a subprocess on 127.0.0.1, one user key),
waits until it has loaded its models, then runs ``--clients`` asyncio clients for
``--duration`` seconds. Each client alternates a search (``POST /v1/search``, adaptive
k) and a retrieval-only ask (``POST /v1/ask`` with ``generate: false``: the context the
generator would read, memories included, no generation), cycling through the
MMLongBench-Doc questions. Prints one JSON line: p50/p95 latency and throughput of each,
errors (anything but HTTP 200, must be 0), and the server's resident memory at the end
and at its peak.

    flock /tmp/bench.lock .venv/bin/python benchmarks/serve.py --store bench-out/mmlongbench
    .venv/bin/python benchmarks/serve.py --store DIR --clients 2 --duration 10   # a quick look

Clients and server share this machine's cores, as they would on a single host.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "mmlongbench_doc" / "samples.json"
_SERVER = "from mmrag.cli import app; app()"


def questions(path: Path) -> list[str]:
    if not path.is_file():
        sys.exit(f"no questions at {path}: the shared MMLongBench-Doc data is needed")
    seen = dict.fromkeys(s["question"] for s in json.loads(path.read_text(encoding="utf-8")))
    return list(seen)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mb(pid: int) -> dict[str, float]:
    """Resident memory now (VmRSS) and at its peak (VmHWM), from /proc."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = round(int(value.split()[0]) / 1024, 1)
    return found


def start_server(store: str, pipeline: str | None, key: str, port: int) -> subprocess.Popen[bytes]:
    keys = Path(tempfile.mkdtemp()) / "keys.json"
    keys.write_text(json.dumps({"keys": [{"key": key, "user": "bench"}]}))
    command = [sys.executable, "-c", _SERVER, "serve", "--store", store, "--keys", str(keys)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    if pipeline:
        command += ["--pipeline", pipeline]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=sys.stderr)


def wait_ready(url: str, server: subprocess.Popen[bytes], timeout: float = 600) -> float:
    """Seconds until /health answers: uvicorn listens only once the models are warm."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if server.poll() is not None:
            sys.exit(f"the server exited with status {server.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    sys.exit("the server did not become ready")


async def client(
    http: httpx.AsyncClient, qs: list[str], offset: int, until: float, out: dict[str, Any]
) -> None:
    i = offset
    while time.perf_counter() < until:
        question = qs[i % len(qs)]
        kind = "search" if i % 2 == 0 else "ask_retrieval_only"
        path, body = (
            ("/v1/search", {"query": question})
            if kind == "search"
            else ("/v1/ask", {"question": question, "generate": False})
        )
        started = time.perf_counter()
        try:
            response = await http.post(path, json=body)
            ok = response.status_code == 200
            if not ok:
                out["error_samples"].append(f"{response.status_code}: {response.text[:200]}")
        except httpx.HTTPError as exc:
            ok = False
            out["error_samples"].append(repr(exc))
        if ok:
            out[kind].append(time.perf_counter() - started)
        else:
            out["errors"] += 1
        i += 1


def summary(latencies: list[float], seconds: float) -> dict[str, Any]:
    if not latencies:
        return {"n": 0}
    ms = sorted(x * 1000 for x in latencies)
    return {
        "n": len(ms),
        "p50_ms": round(statistics.median(ms), 1),
        "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1),
        "max_ms": round(ms[-1], 1),
        "per_s": round(len(ms) / seconds, 2),
    }


async def load(url: str, key: str, qs: list[str], clients: int, duration: float) -> dict[str, Any]:
    out: dict[str, Any] = {"search": [], "ask_retrieval_only": [], "errors": 0, "error_samples": []}
    limits = httpx.Limits(max_connections=clients)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120, limits=limits) as http:
        started = time.perf_counter()
        until = started + duration
        spread = len(qs) // clients
        await asyncio.gather(*(client(http, qs, c * spread, until, out) for c in range(clients)))
        seconds = time.perf_counter() - started
    return {
        "search": summary(out["search"], seconds),
        "ask_retrieval_only": summary(out["ask_retrieval_only"], seconds),
        "errors": out["errors"],
        "error_samples": out["error_samples"][:5],
        "seconds": round(seconds, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default="bench-out/mmlongbench")
    parser.add_argument("--pipeline", default=None, help="default: the store's own")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--questions", type=Path, default=DATA)
    args = parser.parse_args()
    if not Path(args.store).is_dir():
        sys.exit(f"no store at {args.store}: build it with benchmarks/ingest.py --store DIR")
    qs = questions(args.questions)
    key, port = secrets.token_urlsafe(24), free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(args.store, args.pipeline, key, port)
    try:
        startup = wait_ready(url, server)
        idle = rss_mb(server.pid)
        result = asyncio.run(load(url, key, qs, args.clients, args.duration))
        memory = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(timeout=30)
    figures = {
        "benchmark": "serve",
        "store": args.store,
        "clients": args.clients,
        "duration_s": args.duration,
        "startup_s": round(startup, 1),
        **result,
        "server_rss_mb": {
            "ready": idle.get("VmRSS"),
            "end": memory.get("VmRSS"),
            "peak": memory.get("VmHWM"),
        },
        "cpus": os.cpu_count(),
    }
    print(json.dumps(figures))
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
