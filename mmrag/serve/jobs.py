"""Ingest jobs: run one at a time in a background thread, with progress clients can poll.

An ingest can take minutes (OCR, image features, embeddings), far longer than an HTTP
request should be held open, so ``POST /v1/ingest`` only queues a job and returns its id;
``GET /v1/ingest/{id}`` shows its state, progress and, at the end, its report. Jobs run
one after another: they write the same tables, and two at once would only compete for
the same cores.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from mmrag.errors import MmragError
from mmrag.ingest import IngestReport

logger = logging.getLogger(__name__)

JobState = Literal["queued", "running", "done", "failed"]
#: Finished jobs kept for polling; the oldest are forgotten first.
_KEEP_FINISHED = 200


@dataclass(slots=True)
class JobProgress:
    """What a running ingest has done so far (an ``IngestProgress`` for the Ingestor)."""

    total_files: int = 0
    files_done: int = 0
    pages: int = 0
    images: int = 0
    current_stage: str = ""
    #: How far the current stage is (e.g. chunks embedded of the group's chunks).
    stage_done: int = 0
    stage_total: int = 0
    warnings: list[str] = field(default_factory=list)

    def start(self, total_files: int) -> None:
        self.total_files = total_files

    def stage(self, text: str) -> None:
        self.current_stage = text
        self.stage_done = self.stage_total = 0

    def step(self, done: int, total: int) -> None:
        self.stage_done, self.stage_total = done, total

    def advance(self, *, files: int = 0, pages: int = 0, images: int = 0) -> None:
        self.files_done += files
        self.pages += pages
        self.images += images

    def warn(self, text: str) -> None:
        self.warnings.append(text)

    def finish(self) -> None:
        self.current_stage = "done"


@dataclass(slots=True)
class Job:
    id: str
    #: Whose namespace it writes ("" is the shared corpus); only that key may see it.
    owner: str
    user: str | None
    files: list[str]
    state: JobState = "queued"
    progress: JobProgress = field(default_factory=JobProgress)
    report: IngestReport | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    finished: float | None = None

    def to_dict(self) -> dict[str, Any]:
        p = self.progress
        return {
            "id": self.id,
            "state": self.state,
            "user": self.user,
            "files": self.files,
            "progress": {
                "total_files": p.total_files,
                "files_done": p.files_done,
                "pages": p.pages,
                "images": p.images,
                "stage": p.current_stage,
                "stage_done": p.stage_done,
                "stage_total": p.stage_total,
                "warnings": list(p.warnings),
            },
            "report": self.report.to_dict() if self.report is not None else None,
            "error": self.error,
            "created": self.created,
            "finished": self.finished,
        }


class IngestJobs:
    """Queues ingest jobs and runs them one at a time in a worker thread.

    Uploaded files wait in a staging folder per job. When the job starts they move to
    ``uploads/<user>/`` (``uploads/_shared/`` for the shared corpus) under their own
    names, so uploading a changed ``report.pdf`` again replaces the old one's nodes
    instead of adding a second copy, and a file is never rewritten while being read.
    ``run`` is the ingest itself, called as ``run(paths, user, progress)``.
    """

    def __init__(
        self,
        run: Callable[[list[Path], str | None, JobProgress], IngestReport],
        uploads: Path,
    ) -> None:
        self._run = run
        self.uploads = uploads
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmrag-ingest")

    def staging(self) -> Path:
        """A new empty folder for one job's uploads."""
        root = self.uploads / ".staging"
        root.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(dir=root))

    def submit(self, owner: str, user: str | None, staged: Path) -> Job:
        """Queue an ingest of the files in ``staged`` (a folder from :meth:`staging`)."""
        names = sorted(p.name for p in staged.iterdir())
        with self._lock:
            job_id = f"{next(self._ids)}-{uuid.uuid4().hex[:12]}"
            job = Job(id=job_id, owner=owner, user=user, files=names)
            self._jobs[job.id] = job
            self._forget_old()
        self._pool.submit(self._execute, job, staged)
        return job

    def get(self, job_id: str, owner: str) -> Job | None:
        """The job, if ``owner`` submitted it (other keys cannot tell it exists)."""
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    def shutdown(self) -> None:
        """Let the running job finish; queued ones are dropped."""
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _execute(self, job: Job, staged: Path) -> None:
        job.state = "running"
        try:
            target = self.uploads / (job.user or "_shared")
            target.mkdir(parents=True, exist_ok=True)
            paths = []
            for name in job.files:
                paths.append(target / name)
                (staged / name).replace(target / name)
            job.report = self._run(paths, job.user, job.progress)
            job.state = "done"
        except MmragError as exc:
            job.error, job.state = str(exc), "failed"
        except Exception as exc:  # a bug must not end the worker thread unseen
            logger.exception("ingest job %s failed", job.id)
            job.error, job.state = f"internal error: {type(exc).__name__}: {exc}", "failed"
        finally:
            job.finished = time.time()
            shutil.rmtree(staged, ignore_errors=True)

    def _forget_old(self) -> None:
        done = [j for j in self._jobs.values() if j.finished is not None]
        for job in sorted(done, key=lambda j: j.created)[: max(0, len(done) - _KEEP_FINISHED)]:
            del self._jobs[job.id]
