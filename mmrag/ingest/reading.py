"""Deciding whether a file changed and loading it, ahead of enrichment, on a worker thread.

Loading (PyMuPDF parsing, page rendering, image decoding) is mostly single-threaded,
while OCR and embedding of the previous group keep both cores busy in native code that
releases the GIL; reading ahead overlaps the two.
"""

from __future__ import annotations

import hashlib
import logging
import os
import stat as stat_mode
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from mmrag.config import IngestConfig
from mmrag.errors import LoaderError
from mmrag.ingest.document import LoadedDocument
from mmrag.ingest.loading import load_file
from mmrag.ingest.scope import ReadScope, kind_of
from mmrag.schema import content_digest
from mmrag.store import FileRecord
from mmrag.timing import StageTimer

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Unchanged:
    record: FileRecord
    #: The file was touched (new mtime) but its content is the same.
    touched: bool = False


@dataclass(slots=True)
class Failed:
    path: str
    reason: str


@dataclass(slots=True)
class Changed:
    """A file that is new or differs from its ledger record: it must be loaded again.

    Its record's ``pages`` and ``images`` are filled in by :meth:`FileReader.load`.
    """

    path: Path
    record: FileRecord


@dataclass(slots=True)
class Loaded:
    record: FileRecord
    doc: LoadedDocument


ReadOutcome = Unchanged | Failed | Loaded
CheckOutcome = Unchanged | Failed | Changed


@dataclass(slots=True)
class FileReader:
    user: str
    settings: IngestConfig
    fingerprint: str
    ledger: dict[str, FileRecord]
    timer: StageTimer
    #: Where linked images may be read from; None: each document's own folder.
    scope: ReadScope | None = None

    def read(self, path: Path) -> ReadOutcome:
        """Compare ``path`` with its ledger record and load it if it changed."""
        outcome = self.check(path)
        return self.load(outcome) if isinstance(outcome, Changed) else outcome

    def check(self, path: Path) -> CheckOutcome:
        """Whether ``path`` must be loaded: the skip-unchanged decision, without loading.

        A distributed ingest decides this where the ledger is and loads elsewhere.
        """
        old = self.ledger.get(str(path))
        try:
            stat = path.stat()
            if not stat_mode.S_ISREG(stat.st_mode):  # replaced since discovery looked
                return Failed(str(path), f"{kind_of(stat.st_mode)}; not read")
            current = old is not None and old.fingerprint == self.fingerprint
            if old and current and (old.size, old.mtime) == (stat.st_size, stat.st_mtime):
                return Unchanged(old)
            sha = file_sha256(path)
            if old and current and old.sha256 == sha:
                old.mtime = stat.st_mtime
                return Unchanged(old, touched=True)
        except Exception as exc:
            return _failure(path, exc)
        record = FileRecord(
            user=self.user,
            source=str(path),
            doc_id=content_digest(f"{self.user}\x1f{path}")[:16],
            sha256=sha,
            size=stat.st_size,
            mtime=stat.st_mtime,
            fingerprint=self.fingerprint,
        )
        return Changed(path, record)

    def load(self, changed: Changed) -> Loaded | Failed:
        """Load a changed file (parsing, rendering, decoding its images)."""
        try:
            with self.timer.stage("load"):
                doc = load_file(changed.path, self.settings, self.scope)
        except Exception as exc:
            return _failure(changed.path, exc)
        changed.record.pages = doc.pages
        changed.record.images = len(doc.images)
        return Loaded(changed.record, doc)


def _failure(path: Path, exc: Exception) -> Failed:
    """One line saying why ``path`` could not be read."""
    if isinstance(exc, LoaderError):
        return Failed(str(path), exc.reason)
    if isinstance(exc, OSError):
        return Failed(str(path), exc.strerror or str(exc))
    # A loader bug must not stop the whole run.
    logger.debug("loader crashed on %s", path, exc_info=True)
    return Failed(str(path), f"{type(exc).__name__}: {exc}")


def read_ahead(
    reader: FileReader, paths: Iterable[Path], ahead: int = 2
) -> Iterator[tuple[Path, ReadOutcome]]:
    """``reader.read`` over ``paths`` in order, up to ``ahead`` files in advance."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmrag-read")
    pending: deque[tuple[Path, Future[ReadOutcome]]] = deque()
    try:
        for path in paths:
            pending.append((path, pool.submit(reader.read, path)))
            if len(pending) > ahead:
                done_path, future = pending.popleft()
                yield done_path, future.result()
        while pending:
            done_path, future = pending.popleft()
            yield done_path, future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    # Non-blocking: a FIFO put in the file's place since the stat must not hang the run.
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as fh:
        if not stat_mode.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is no longer a regular file")
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
