"""The per-file work of an ingest, apart from the store: loaded files gathered into commit
groups and enriched together.

What comes out is ready for one atomic write: the files' ledger records, their nodes,
images and document rows. Locally the :class:`~mmrag.ingest.ingestor.Ingestor` runs this
beside its writes; a distributed ingest (:mod:`mmrag.ingest.distributed`) runs it on the
cluster's workers and does only the writes where the store is.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from mmrag.components import Components
from mmrag.ingest.enrich import EnrichedBatch, Enricher, PendingDoc, StageCallback, StepCallback
from mmrag.ingest.reading import Failed, Loaded, ReadOutcome, Unchanged
from mmrag.store import FileRecord


@dataclass(slots=True)
class EnrichedGroup:
    """Files loaded and enriched together, committed in one write."""

    user: str
    records: list[FileRecord]
    batch: EnrichedBatch
    #: Sources read fine but holding nothing to index: recorded, not counted as ingested.
    skipped: dict[str, str] = field(default_factory=dict)
    #: What loading the files found wrong (an unreadable embedded image, …).
    warnings: list[str] = field(default_factory=list)


GroupOutcome = Unchanged | Failed | EnrichedGroup


class GroupEnricher:
    """Turns a stream of read outcomes into commit groups of enriched files.

    Example::

        groups = GroupEnricher(components, user="")
        for item in groups.run(read_ahead(reader, paths)):
            ...  # Unchanged and Failed pass through; an EnrichedGroup is ready to write
    """

    def __init__(self, components: Components, user: str, enricher: Enricher | None = None):
        self.components = components
        self.user = user
        self.enricher = enricher or Enricher(components)

    def run(
        self,
        outcomes: Iterable[ReadOutcome],
        on_stage: StageCallback | None = None,
        on_step: StepCallback | None = None,
    ) -> Generator[GroupOutcome]:
        commit_every = self.components.config.ingest.commit_every
        group: list[Loaded] = []
        for outcome in outcomes:
            if not isinstance(outcome, Loaded):
                yield outcome
                continue
            mark_skipped(outcome, self.components)
            group.append(outcome)
            if on_stage is not None:
                on_stage(f"read {Path(outcome.record.source).name}")
            if sum(_weight(x) for x in group) >= commit_every:
                yield self.enrich(group, on_stage, on_step)
                group = []
        if group:
            yield self.enrich(group, on_stage, on_step)

    def enrich(
        self,
        group: list[Loaded],
        on_stage: StageCallback | None = None,
        on_step: StepCallback | None = None,
    ) -> EnrichedGroup:
        pending = [PendingDoc(user=self.user, doc_id=x.record.doc_id, doc=x.doc) for x in group]
        batch = self.enricher.enrich(pending, on_stage=on_stage, on_step=on_step)
        return EnrichedGroup(
            user=self.user,
            records=[x.record for x in group],
            batch=batch,
            skipped={x.record.source: x.doc.skip_reason for x in group if x.doc.skip_reason},
            warnings=[w for x in group for w in x.doc.warnings],
        )


def mark_skipped(loaded: Loaded, components: Components) -> None:
    """Give an images-only file a skip reason when the pipeline indexes no images."""
    doc = loaded.doc
    if not doc.blocks and not doc.scans and doc.images and not components.indexes_images:
        doc.skip_reason = f"pipeline '{components.config.name}' does not index images"


def _weight(loaded: Loaded) -> int:
    return max(1, loaded.doc.pages + len(loaded.doc.images))
