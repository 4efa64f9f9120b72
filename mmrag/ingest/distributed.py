"""Distributed ingest on Ray: the per-file work on a cluster, the writes here.

The driver (this process) discovers the files, decides which changed (the ledger is
here), and commits every enriched group through the same code as a local ingest
(:class:`~mmrag.ingest.ingestor.Ingestor`): per-file atomic replace, the ledger, the
report and the progress display are the same. The cluster's workers do the expensive
part: one actor per CPU, each loading the pipeline's models once, loads, OCRs and embeds
slices of changed files and sends back groups ready to write. At most
``SLICES_PER_WORKER`` slices per worker are in flight and results are collected one
slice at a time, so memory stays bounded whatever the size of the corpus.

Workers read the files at the paths the driver found, so every node must see them at
those paths (one machine, or a shared file system) and have mmrag installed.
"""

from __future__ import annotations

import itertools
import logging
import socket
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from mmrag.components import Components
from mmrag.config import PipelineConfig
from mmrag.errors import ClusterError, ConfigError, MissingDependencyError, MmragError
from mmrag.ingest.enrich import Enricher
from mmrag.ingest.grouping import GroupEnricher, GroupOutcome
from mmrag.ingest.progress import IngestProgress
from mmrag.ingest.reading import Changed, Failed, FileReader, Unchanged
from mmrag.ingest.scope import ReadScope
from mmrag.timing import StageTimer

logger = logging.getLogger(__name__)

#: Slices queued per worker: one running, one waiting while the driver writes.
SLICES_PER_WORKER = 2
#: A slice ends at this many files or bytes, whichever comes first (a larger file goes
#: alone): enough for the models to see large batches, small enough to bound memory.
SLICE_FILES = 8
SLICE_BYTES = 16 << 20
#: Seconds to wait for a HOST:PORT address to answer before saying it cannot be reached
#: (Ray itself retries for minutes).
CONNECT_TIMEOUT_S = 5.0


@dataclass(slots=True)
class SliceResult:
    outcomes: list[GroupOutcome]
    stage_seconds: dict[str, float]


class SliceWorker:
    """Loads and enriches slices of changed files. Runs as a Ray actor, one per worker
    process, so that the pipeline's models load once per worker, not once per file."""

    def __init__(self, config: dict[str, Any], user: str, scope: ReadScope | None) -> None:
        pipeline = PipelineConfig.from_dict(config, origin="pipeline sent to the Ray worker")
        components = Components(pipeline)
        self.timer = StageTimer()
        self.reader = FileReader(user, pipeline.ingest, "", {}, self.timer, scope)
        self.groups = GroupEnricher(components, user, Enricher(components, self.timer))

    def process(self, changed: list[Changed]) -> SliceResult:
        self.timer.seconds.clear()
        outcomes = list(self.groups.run(self.reader.load(c) for c in changed))
        return SliceResult(outcomes, dict(self.timer.seconds))


def ray_outcomes(
    reader: FileReader,
    files: Sequence[Path],
    config: PipelineConfig,
    address: str,
    progress: IngestProgress,
) -> Generator[GroupOutcome]:
    """Each file unchanged or failed, and the changed ones enriched on Ray workers.

    The cluster is joined at the first changed file: a run with nothing to do needs none.
    """
    ray = import_ray()
    items = _slices(reader, files)
    for first in items:
        if isinstance(first, list):
            break
        yield first
    else:
        return
    progress.stage(f"connecting to Ray at {address}")
    connected_here = connect(ray, address)
    workers: list[Any] = []
    try:
        count = max(1, int(ray.cluster_resources().get("CPU", 1)))
        actor = ray.remote(num_cpus=1, max_restarts=1)(SliceWorker)
        data = config.model_dump(mode="json")
        workers = [actor.remote(data, reader.user, reader.scope) for _ in range(count)]
        progress.stage(f"loading and enriching files on {count} Ray workers")
        yield from _drive(ray, workers, itertools.chain([first], items), reader.timer)
    finally:
        for worker in workers:
            ray.kill(worker)
        if connected_here:
            ray.shutdown()


def import_ray() -> ModuleType:
    try:
        import ray
    except ImportError as exc:
        raise MissingDependencyError("ray", "ray", "Distributed ingest (--ray)") from exc
    return ray


def connect(ray: ModuleType, address: str) -> bool:
    """Connect this process to the cluster at ``address``; False if it already was."""
    if ray.is_initialized():
        return False
    if address != "auto":
        probe(address)
    try:
        ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(
            f"cannot connect to the Ray cluster at {address}: {exc}. Start one with "
            "'ray start --head' (then use --ray auto) or check the address"
        ) from exc
    return True


def probe(address: str) -> None:
    """Fail at once, naming ``address``, when nothing listens there."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"Ray address {address!r}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ClusterError(
            f"cannot reach the Ray cluster at {address} ({exc.strerror or exc}); start one "
            f"with 'ray start --head --port {port}' or check the address"
        ) from exc


def _slices(
    reader: FileReader, files: Sequence[Path]
) -> Iterator[Unchanged | Failed | list[Changed]]:
    """The driver's decisions per file, with the changed files gathered into slices."""
    batch: list[Changed] = []
    size = 0
    for path in files:
        outcome = reader.check(path)
        if not isinstance(outcome, Changed):
            yield outcome
            continue
        if batch and size + outcome.record.size > SLICE_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(outcome)
        size += outcome.record.size
        if len(batch) >= SLICE_FILES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _drive(
    ray: ModuleType,
    workers: list[Any],
    items: Iterator[Unchanged | Failed | list[Changed]],
    timer: StageTimer,
) -> Iterator[GroupOutcome]:
    """Slices onto the least busy worker; results back as they finish, one at a time."""
    queued = [0] * len(workers)
    in_flight: dict[Any, tuple[int, list[Changed]]] = {}

    def collect() -> Iterator[GroupOutcome]:
        [ref], _ = ray.wait(list(in_flight), num_returns=1)
        index, sent = in_flight.pop(ref)
        queued[index] -= 1
        try:
            result: SliceResult = ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            # A model failing, as in a local ingest, stops the run with its own message.
            cause = getattr(exc, "cause", None)
            if isinstance(cause, MmragError):
                raise cause from None
            raise ClusterError(f"a Ray worker failed: {exc}") from exc
        except ray.exceptions.RayActorError as exc:
            # The worker process died (a crash in native code, out of memory): its files
            # fail, one line each, and its restarted successor takes the next slices.
            logger.warning("Ray worker died: %s", exc)
            reason = f"the Ray worker reading it died ({type(exc).__name__})"
            yield from (Failed(str(c.path), reason) for c in sent)
            return
        for stage, seconds in result.stage_seconds.items():
            timer.seconds[stage] = timer.seconds.get(stage, 0.0) + seconds
        yield from result.outcomes

    for item in items:
        if not isinstance(item, list):
            yield item
            continue
        while min(queued) >= SLICES_PER_WORKER:
            yield from collect()
        index = queued.index(min(queued))
        in_flight[workers[index].process.remote(item)] = (index, item)
        queued[index] += 1
    while in_flight:
        yield from collect()
