"""A throwaway Ray cluster on this machine: a head and worker nodes as separate processes.

What ``ray start --head`` and ``ray start --address`` set up by hand, for tests,
benchmarks and trying a distributed ingest on one machine. Each node runs ``ray start
--block`` in its own process group, so that stopping the cluster stops exactly its own
processes (``ray stop`` would stop every Ray process on the machine).

Example::

    with LocalRayCluster(workers=1) as address:
        rag.ingest(["docs/"], cluster=address)
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from mmrag.errors import ClusterError
from mmrag.ingest.distributed import import_ray

logger = logging.getLogger(__name__)


class LocalRayCluster:
    """A head plus ``workers`` worker nodes on 127.0.0.1, each with ``cpus_per_node`` CPUs."""

    def __init__(self, workers: int = 1, cpus_per_node: int = 1, start_timeout: float = 120.0):
        self.workers = workers
        self.cpus_per_node = cpus_per_node
        self.start_timeout = start_timeout
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Short: Ray's socket paths live under it and must stay under 108 characters.
        self._dir = Path(tempfile.mkdtemp(prefix="mmrag-ray-"))
        self._nodes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> str:
        import_ray()  # the install hint, before anything starts
        try:
            self._start("--head", "--port", str(self.port), "--include-dashboard=false")
            self._wait_for_port()
            for _ in range(self.workers):
                self._start("--address", self.address)
            self._wait_for_cpus()
        except BaseException:
            self.stop()
            raise
        return self.address

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def pids(self) -> list[int]:
        """The ``ray start`` process of each node (its Ray processes are its group)."""
        return [node.pid for node in self._nodes]

    def stop(self) -> None:
        """Stop every node (workers first), then remove the cluster's files."""
        for node in reversed(self._nodes):
            if node.poll() is None:
                node.send_signal(signal.SIGTERM)  # drains, then stops the node's processes
        for node in reversed(self._nodes):
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(node.pid, signal.SIGKILL)
                node.wait()
        self._nodes.clear()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _start(self, *args: str) -> None:
        ray = Path(sys.executable).with_name("ray")
        command = [str(ray), "start", *args, "--num-cpus", str(self.cpus_per_node), "--block"]
        if "--head" in args:
            command += ["--temp-dir", str(self._dir)]
        log = (self._dir / f"node{len(self._nodes)}.log").open("wb")
        env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
        self._nodes.append(
            subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )
        )
        log.close()

    def _wait_for_port(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.2)
        raise ClusterError(f"the Ray head at {self.address} did not start; see {self._dir}")

    def _wait_for_cpus(self) -> None:
        """Until every node has joined: a driver connected earlier would see fewer CPUs."""
        ray = import_ray()
        want = self.cpus_per_node * (1 + self.workers)
        ray.init(address=self.address, logging_level=logging.ERROR, log_to_driver=False)
        try:
            deadline = time.monotonic() + self.start_timeout
            while ray.cluster_resources().get("CPU", 0) < want:
                self._check_alive()
                if time.monotonic() > deadline:
                    raise ClusterError(f"Ray nodes did not join {self.address}; see {self._dir}")
                time.sleep(0.2)
        finally:
            ray.shutdown()

    def _check_alive(self) -> None:
        for node in self._nodes:
            if node.poll() is not None:
                log = (self._dir / f"node{self._nodes.index(node)}.log").read_text(errors="replace")
                raise ClusterError(f"a Ray node exited ({node.returncode}): {log[-2000:]}")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
