"""Incremental, resumable ingestion of files into a store.

For each file: skip it if its content and the pipeline's ingest settings are unchanged
since the last run; otherwise load it, and once a group of files has been loaded,
enrich them together and commit their nodes in one atomic write, then record them in
the file ledger. A run that stops anywhere leaves every file either fully old or fully
new, and the next run picks up what was not recorded.

The per-file work (loading, OCR, image features, embeddings) runs here or, given a
``cluster``, on Ray workers (:mod:`mmrag.ingest.distributed`); either way the ledger, the
skip-unchanged decision and the writes stay here, on one code path.

Runs may overlap (two ingests of one folder, several machines writing one store in
object storage): the store retries commits that lose a race, and each run starts by
healing what an earlier crashed or racing run left behind: a file whose stored nodes do
not match its ledger row (missing, duplicated or stale) is ingested again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Generator, Sequence
from contextlib import closing
from pathlib import Path

from mmrag.components import Components
from mmrag.ingest.discover import discover
from mmrag.ingest.enrich import Enricher
from mmrag.ingest.grouping import EnrichedGroup, GroupEnricher, GroupOutcome
from mmrag.ingest.progress import IngestProgress, NullProgress
from mmrag.ingest.reading import Failed, FileReader, Unchanged, read_ahead
from mmrag.ingest.report import FileFailure, IngestReport
from mmrag.store import FileRecord, Store
from mmrag.store.filters import validate_user
from mmrag.timing import StageTimer

logger = logging.getLogger(__name__)


class Ingestor:
    def __init__(self, store: Store, components: Components, *, cluster: str | None = None):
        """``cluster``: a Ray address (``"auto"``, ``"127.0.0.1:6379"``, ``"ray://…"``) to
        run the per-file work on; ``None`` runs it in this process."""
        self.store = store
        self.components = components
        self.cluster = cluster
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
        report.add_discovery(found, missing_fails=not prune)
        ledger = self.store.files.records(ns)
        settings = self.components.config.ingest
        current = self._heal(ns, ledger, report, progress)
        reader = FileReader(ns, settings, self.fingerprint, current, self.timer, found.scope)
        touched: list[FileRecord] = []
        progress.start(len(found.files))
        try:
            # Closed at once on an error or interrupt: it holds a reading thread or workers.
            with closing(self._outcomes(reader, found.files, progress)) as outcomes:
                for outcome in outcomes:
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
                        self._commit(outcome, report, progress)
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

    def _outcomes(
        self, reader: FileReader, files: list[Path], progress: IngestProgress
    ) -> Generator[GroupOutcome]:
        """Each file unchanged or failed, and the changed ones enriched in commit groups."""
        if self.cluster is not None:
            from mmrag.ingest.distributed import ray_outcomes

            return ray_outcomes(reader, files, self.components.config, self.cluster, progress)
        groups = GroupEnricher(self.components, reader.user, self._enricher)
        loaded = (outcome for _, outcome in read_ahead(reader, files))
        return groups.run(loaded, on_stage=progress.stage, on_step=progress.step)

    def _commit(self, group: EnrichedGroup, report: IngestReport, progress: IngestProgress) -> None:
        """Write one group's nodes in one atomic replace, then record its files."""
        batch = group.batch
        for warning in [*group.warnings, *batch.warnings]:
            report.warnings.append(warning)
            progress.warn(warning)
        for source, reason in group.skipped.items():
            logger.info("%s: skipped (%s)", source, reason)
        progress.stage(f"writing {len(batch.nodes)} nodes")
        records = group.records
        with self.timer.stage("write"):
            sources = [x.source for x in records]
            heal = not self._redo.isdisjoint(sources)
            self.store.replace_sources(group.user, sources, batch.nodes, batch.images, heal=heal)
            self.store.documents.replace(group.user, sources, batch.documents)
            ids: dict[str, set[str]] = {}
            for node in batch.nodes:
                ids.setdefault(node.source, set()).add(node.id)
            for record in records:
                # Distinct ids: what the store holds once the write is done, and what the
                # next run compares it with to find broken files.
                record.nodes = len(ids.get(record.source, ()))
            self.store.files.upsert(records)
        pages = sum(x.pages for x in records)
        images = sum(x.images for x in records)
        report.ingested += len(records) - len(group.skipped)
        report.skipped += len(group.skipped)
        report.pages += pages
        report.images += images
        report.nodes_written += len(batch.nodes)
        progress.advance(files=len(records), pages=pages, images=images)

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


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents
