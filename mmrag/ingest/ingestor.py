"""Incremental, resumable ingestion of files into a store.

For each file: skip it if its content and the pipeline's ingest settings are unchanged
since the last run; otherwise load it, and once a group of files has been loaded,
enrich them together and commit their nodes in one atomic write, then record them in
the file ledger. A run that stops anywhere leaves every file either fully old or fully
new, and the next run picks up what was not recorded.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from mmrag.components import Components
from mmrag.errors import LoaderError
from mmrag.ingest.discover import discover
from mmrag.ingest.enrich import Enricher, PendingDoc
from mmrag.ingest.loaders import loader_for
from mmrag.ingest.progress import IngestProgress, NullProgress
from mmrag.ingest.report import FileFailure, IngestReport
from mmrag.schema import content_digest
from mmrag.store import FileRecord, Store
from mmrag.store.filters import validate_user
from mmrag.timing import StageTimer

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Job:
    path: Path
    record: FileRecord
    pending: PendingDoc


class Ingestor:
    def __init__(self, store: Store, components: Components) -> None:
        self.store = store
        self.components = components
        self.fingerprint = components.config.ingest_fingerprint()
        self.timer = StageTimer()
        self._enricher = Enricher(components, self.timer)

    def run(
        self,
        paths: Sequence[str | Path],
        *,
        user: str | None = None,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        prune: bool = False,
        progress: IngestProgress | None = None,
    ) -> IngestReport:
        """Ingest ``paths`` into ``user``'s namespace (``None``: the shared corpus)."""
        ns = validate_user(user)
        progress = progress or NullProgress()
        report = IngestReport()
        started = time.monotonic()
        found = discover(paths, include=include, exclude=exclude)
        report.files_seen = len(found.files)
        report.unsupported = found.unsupported
        report.failed.extend(FileFailure(p, "no such file or directory") for p in found.missing)
        ledger = self.store.files.records(ns)
        progress.start(len(found.files))
        group: list[_Job] = []
        try:
            for path in found.files:
                job = self._prepare(path, ns, ledger.get(str(path)), report, progress)
                if job is None:
                    progress.advance(files=1)
                    continue
                group.append(job)
                if sum(_weight(j) for j in group) >= self.components.config.ingest.commit_every:
                    self._commit(ns, group, report, progress)
                    group = []
            if group:
                self._commit(ns, group, report, progress)
            if prune:
                report.pruned = self._prune(ns, paths, ledger)
            if report.nodes_written or report.pruned:
                progress.stage("refreshing indexes")
                with self.timer.stage("indexes"):
                    self.store.refresh_indexes()
        except KeyboardInterrupt:
            report.interrupted = True
            raise
        finally:
            report.seconds = time.monotonic() - started
            report.stage_seconds = self.timer.rounded()
            progress.finish()
        return report

    def _prepare(
        self,
        path: Path,
        user: str,
        old: FileRecord | None,
        report: IngestReport,
        progress: IngestProgress,
    ) -> _Job | None:
        """Load ``path`` if it changed; ``None`` when there is nothing to write."""
        progress.stage(f"reading {path.name}")
        try:
            stat = path.stat()
            if (
                old
                and old.fingerprint == self.fingerprint
                and (old.size, old.mtime)
                == (
                    stat.st_size,
                    stat.st_mtime,
                )
            ):
                report.unchanged += 1
                return None
            sha = _file_sha256(path)
            if old and old.fingerprint == self.fingerprint and old.sha256 == sha:
                report.unchanged += 1
                old.mtime = stat.st_mtime  # touched but identical: remember the new mtime
                self.store.files.upsert([old])
                return None
            with self.timer.stage("load"):
                doc = loader_for(path).load(path, self.components.config.ingest)
        except LoaderError as exc:
            self._fail(report, progress, str(path), exc.reason)
            return None
        except OSError as exc:
            self._fail(report, progress, str(path), exc.strerror or str(exc))
            return None
        except Exception as exc:  # a loader bug must not stop the whole run
            logger.debug("loader crashed on %s", path, exc_info=True)
            self._fail(report, progress, str(path), f"{type(exc).__name__}: {exc}")
            return None
        for warning in doc.warnings:
            report.warnings.append(warning)
            progress.warn(warning)
        if not doc.blocks and not doc.scans and doc.images and not self.components.indexes_images:
            doc.skip_reason = f"pipeline '{self.components.config.name}' does not index images"
        if doc.skip_reason:
            report.skipped += 1
            logger.info("%s: skipped (%s)", path, doc.skip_reason)
        doc_id = content_digest(f"{user}\x1f{path}")[:16]
        record = FileRecord(
            user=user,
            source=str(path),
            doc_id=doc_id,
            sha256=sha,
            size=stat.st_size,
            mtime=stat.st_mtime,
            fingerprint=self.fingerprint,
            pages=doc.pages,
            images=len(doc.images),
        )
        return _Job(path, record, PendingDoc(user=user, doc_id=doc_id, doc=doc))

    def _commit(
        self, user: str, group: list[_Job], report: IngestReport, progress: IngestProgress
    ) -> None:
        batch = self._enricher.enrich([j.pending for j in group], on_stage=progress.stage)
        for warning in batch.warnings:
            report.warnings.append(warning)
            progress.warn(warning)
        progress.stage(f"writing {len(batch.nodes)} nodes")
        sources = [str(j.path) for j in group]
        with self.timer.stage("write"):
            self.store.replace_sources(user, sources, batch.nodes, batch.images)
        for job in group:
            job.record.nodes = batch.nodes_per_source.get(str(job.path), 0)
        self.store.files.upsert([j.record for j in group])
        pages = sum(j.record.pages for j in group)
        images = sum(j.record.images for j in group)
        report.ingested += sum(1 for j in group if not j.pending.doc.skip_reason)
        report.pages += pages
        report.images += images
        report.nodes_written += len(batch.nodes)
        progress.advance(files=len(group), pages=pages, images=images)

    def _prune(self, user: str, roots: Sequence[str | Path], ledger: dict[str, FileRecord]) -> int:
        """Forget files under ``roots`` that no longer exist."""
        resolved = [Path(r).expanduser().resolve() for r in roots]
        gone = [
            source
            for source in ledger
            if any(_is_within(Path(source), root) for root in resolved)
            and not Path(source).exists()
        ]
        self.store.delete_sources(user, gone)
        self.store.files.delete(user, gone)
        return len(gone)

    @staticmethod
    def _fail(report: IngestReport, progress: IngestProgress, path: str, reason: str) -> None:
        report.failed.append(FileFailure(path, reason))
        progress.warn(f"{path}: {reason}")


def _weight(job: _Job) -> int:
    doc = job.pending.doc
    return max(1, doc.pages + len(doc.images))


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
