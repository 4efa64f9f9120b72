"""Incremental, resumable ingestion of files into a store.

For each file: skip it if its content and the pipeline's ingest settings are unchanged
since the last run; otherwise load it, and once a group of files has been loaded,
enrich them together and commit their nodes in one atomic write, then record them in
the file ledger. A run that stops anywhere leaves every file either fully old or fully
new, and the next run picks up what was not recorded.

Runs may overlap (two ingests of one folder, several machines writing one store in
object storage): the store retries commits that lose a race, and each run starts by
healing what an earlier crashed or racing run left behind: a file whose stored nodes do
not match its ledger row (missing, duplicated or stale) is ingested again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from pathlib import Path

from mmrag.components import Components
from mmrag.ingest.discover import discover
from mmrag.ingest.enrich import Enricher, PendingDoc
from mmrag.ingest.progress import IngestProgress, NullProgress
from mmrag.ingest.reading import Failed, FileReader, Loaded, Unchanged, read_ahead
from mmrag.ingest.report import FileFailure, IngestReport
from mmrag.store import FileRecord, Store
from mmrag.store.filters import validate_user
from mmrag.timing import StageTimer

logger = logging.getLogger(__name__)


class Ingestor:
    def __init__(self, store: Store, components: Components) -> None:
        self.store = store
        self.components = components
        self.fingerprint = components.config.ingest_fingerprint()
        self.timer = StageTimer()
        self._enricher = Enricher(components, self.timer)
        #: Files found broken at the start of this run: their duplicates are removed.
        self._redo: set[str] = set()

    def run(
        self,
        paths: Sequence[str | Path],
        *,
        user: str | None = None,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        prune: bool = False,
        progress: IngestProgress | None = None,
        allow_links_outside: Sequence[str | Path] = (),
    ) -> IngestReport:
        """Ingest ``paths`` into ``user``'s namespace (``None``: the shared corpus).

        Files, symlinks and linked images are read only inside ``paths`` (see
        :mod:`mmrag.ingest.scope`) and the folders in ``allow_links_outside``.
        """
        ns = validate_user(user)
        progress = progress or NullProgress()
        report = IngestReport()
        started = time.monotonic()
        found = discover(paths, include=include, exclude=exclude, allow_outside=allow_links_outside)
        report.add_discovery(found)
        ledger = self.store.files.records(ns)
        settings = self.components.config.ingest
        current = self._heal(ns, ledger, report, progress)
        reader = FileReader(ns, settings, self.fingerprint, current, self.timer, found.scope)
        group: list[Loaded] = []
        touched: list[FileRecord] = []
        progress.start(len(found.files))
        try:
            for path, outcome in read_ahead(reader, found.files):
                if isinstance(outcome, Unchanged):
                    report.unchanged += 1
                    if outcome.touched:
                        touched.append(outcome.record)
                    progress.advance(files=1)
                elif isinstance(outcome, Failed):
                    report.failed.append(FileFailure(outcome.path, outcome.reason))
                    progress.warn(f"{outcome.path}: {outcome.reason}")
                    progress.advance(files=1)
                else:
                    self._accept(outcome, report, progress)
                    group.append(outcome)
                    progress.stage(f"read {path.name}")
                    if sum(_weight(x) for x in group) >= self.components.config.ingest.commit_every:
                        self._commit(ns, group, report, progress)
                        group = []
            if group:
                self._commit(ns, group, report, progress)
            self.store.files.upsert(touched)
            if prune:
                report.pruned = self._prune(ns, paths, ledger)
            if report.nodes_written or report.pruned or self.store.missing_indexes():
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

    def _heal(
        self,
        user: str,
        ledger: dict[str, FileRecord],
        report: IngestReport,
        progress: IngestProgress,
    ) -> dict[str, FileRecord]:
        """The ledger without the files whose nodes must be written again."""
        with self.timer.stage("check"):
            redo = self.store.sources_to_redo(user, {s: r.nodes for s, r in ledger.items()})
        if redo:
            message = (
                f"{len(redo)} file(s) had missing, duplicated or stale nodes in the store "
                "(an interrupted or concurrent run); ingesting them again"
            )
            logger.warning(message)
            report.warnings.append(message)
            progress.warn(message)
        self._redo = redo
        return {s: r for s, r in ledger.items() if s not in redo}

    def _accept(self, loaded: Loaded, report: IngestReport, progress: IngestProgress) -> None:
        doc = loaded.doc
        for warning in doc.warnings:
            report.warnings.append(warning)
            progress.warn(warning)
        if not doc.blocks and not doc.scans and doc.images and not self.components.indexes_images:
            doc.skip_reason = f"pipeline '{self.components.config.name}' does not index images"
        if doc.skip_reason:
            report.skipped += 1
            logger.info("%s: skipped (%s)", doc.source, doc.skip_reason)

    def _commit(
        self, user: str, group: list[Loaded], report: IngestReport, progress: IngestProgress
    ) -> None:
        pending = [PendingDoc(user=user, doc_id=x.record.doc_id, doc=x.doc) for x in group]
        batch = self._enricher.enrich(pending, on_stage=progress.stage, on_step=progress.step)
        for warning in batch.warnings:
            report.warnings.append(warning)
            progress.warn(warning)
        progress.stage(f"writing {len(batch.nodes)} nodes")
        with self.timer.stage("write"):
            sources = [x.record.source for x in group]
            heal = not self._redo.isdisjoint(sources)
            self.store.replace_sources(user, sources, batch.nodes, batch.images, heal=heal)
            self.store.documents.replace(user, sources, batch.documents)
            ids: dict[str, set[str]] = {}
            for node in batch.nodes:
                ids.setdefault(node.source, set()).add(node.id)
            for x in group:
                # Distinct ids: what the store holds once the write is done, and what the
                # next run compares it with to find broken files.
                x.record.nodes = len(ids.get(x.record.source, ()))
            self.store.files.upsert([x.record for x in group])
        pages = sum(x.record.pages for x in group)
        images = sum(x.record.images for x in group)
        report.ingested += sum(1 for x in group if not x.doc.skip_reason)
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


def _weight(loaded: Loaded) -> int:
    return max(1, loaded.doc.pages + len(loaded.doc.images))


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
