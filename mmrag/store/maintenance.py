"""Keeping a store's indexes built and its data files compact: the policy of
:mod:`mmrag.store.indexing` applied to the nodes and image-vector tables, mixed into
:class:`~mmrag.store.store.Store`."""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mmrag.errors import MmragError
from mmrag.store import indexing
from mmrag.store.documents import DOCUMENTS, DocumentTable
from mmrag.store.files import FileLedger
from mmrag.store.retry import retry_conflicts
from mmrag.store.tables import FILES, IMAGE_VECTORS, NODES

logger = logging.getLogger(__name__)

#: Store metadata key recording how many vectors a column's ANN index was trained on.
TRAINED_ROWS = "index_trained_rows"


class IndexMaintenance:
    """What ``mmrag ingest`` runs after writing, and ``mmrag optimize`` and ``stats`` read."""

    if TYPE_CHECKING:  # provided by Store
        uri: str
        db: Any
        documents: DocumentTable
        files: FileLedger

        def meta(self) -> dict[str, Any]: ...
        def set_meta(self, values: dict[str, Any]) -> None: ...
        def _nodes_table(self, required: bool = True) -> Any: ...
        def _image_vectors_table(self) -> Any | None: ...

    def refresh_indexes(
        self, *, retrain: bool = False, prune_older_than: timedelta | None = None
    ) -> None:
        """Build missing indexes and fold new rows into existing ones, then compact.

        ``retrain`` rebuilds the ANN indexes from scratch (new partitions for the rows
        the table holds now) even where the policy would only fold new rows in.

        Compacting also deletes the table versions older than ``prune_older_than``
        (LanceDB's 7 days when None) and the files only they use: right after an
        ingest, old versions hold about as much data as the live one. A reader still
        on a deleted version (a process that opened the store before) fails and must
        reopen it. The memory tables are left alone: undo reads their old versions.

        Another writer may be doing the same at the same moment: an index build that
        loses the race is retried on the new version (where the index may already
        exist), and a compaction that keeps losing is left to the next run: it only
        makes reads faster, and readers never depend on it.
        """
        table = self._nodes_table(required=False)
        if table is None or table.count_rows() == 0:
            return
        searched = self._searched_tables()
        for _, indexed, scalar in searched:
            retry_conflicts(
                partial(self._build_indexes, indexed, scalar, retrain=retrain),
                what="building indexes",
                on_retry=indexed.checkout_latest,
            )
        compact = partial(_compact, older_than=prune_older_than)
        for name, target in (
            *((name, indexed) for name, indexed, _ in searched),
            (DOCUMENTS, self.documents.table),
            (FILES, self.files.table),
        ):
            try:
                retry_conflicts(partial(compact, target), what=f"compacting {name}", attempts=4)
            except MmragError as exc:
                logger.warning("%s; left for the next run", exc)

    def versions(self) -> int:
        """Table versions the store keeps (of the tables :meth:`refresh_indexes`
        compacts), each readable until pruned."""
        tables = [t for _, t, _ in self._searched_tables()]
        tables += [self.documents.table, self.files.table]
        return sum(len(t.list_versions()) for t in tables if t is not None)

    def disk_bytes(self) -> int | None:
        """Bytes under a local store's folder: every kept version's files (None for a
        store in object storage, which has no cheap total)."""
        if "://" in self.uri:
            return None
        return sum(f.stat().st_size for f in Path(self.uri).rglob("*") if f.is_file())

    def live_bytes(self) -> int:
        """Bytes of data in the latest version of every table of the store (memories'
        included): what :meth:`disk_bytes` comes down to once old versions are pruned,
        indexes aside."""
        names: list[str] = []
        page: str | None = None
        while True:
            listed = self.db.list_tables(page_token=page)
            names += listed.tables
            page = listed.page_token
            if not page:
                break
        return sum(int(self.db.open_table(name).stats()["total_bytes"]) for name in names)

    def fragments(self) -> int:
        """Data files of the nodes table: compaction brings many small ones down to few."""
        table = self._nodes_table(required=False)
        return int(table.stats()["fragment_stats"]["num_fragments"]) if table is not None else 0

    def missing_indexes(self) -> list[str]:
        """Columns whose index a finished run would have built but the store lacks (a run
        killed while building it): the next run builds them even with nothing to write."""
        table = self._nodes_table(required=False)
        if table is None or table.count_rows() == 0:
            return []
        trained = self.meta().get(TRAINED_ROWS, {})
        return [
            wanted.column if name == NODES else f"{name}.{wanted.column}"
            for name, table, scalar in self._searched_tables()
            for wanted in indexing.wanted_indexes(table, scalar, trained)
        ]

    def index_coverage(self) -> list[indexing.IndexCoverage]:
        """Indexed and unindexed rows of each index of the nodes and image-vector tables."""
        return [
            found
            for name, searched, _ in self._searched_tables()
            for found in indexing.coverage(searched, table_name=name)
        ]

    def _build_indexes(
        self, table: Any, scalar: tuple[tuple[str, Any], ...], *, retrain: bool = False
    ) -> None:
        trained = self.meta().get(TRAINED_ROWS, {})
        wanted = indexing.wanted_indexes(table, scalar, trained, retrain=retrain)
        built = indexing.build_indexes(table, wanted)
        if built:
            self.set_meta({TRAINED_ROWS: self.meta().get(TRAINED_ROWS, {}) | built})

    def index_names(self) -> list[str]:
        return [
            f"{ix.index_type}({', '.join(ix.columns)})"
            for _, table, _ in self._searched_tables()
            for ix in table.list_indices()
        ]

    def _searched_tables(self) -> list[tuple[str, Any, tuple[tuple[str, Any], ...]]]:
        """(name, table, scalar indexes) of each table searches read."""
        found = []
        nodes = self._nodes_table(required=False)
        if nodes is not None:
            found.append((NODES, nodes, indexing.SCALAR_INDEXES))
        vectors = self._image_vectors_table()
        if vectors is not None:
            found.append((IMAGE_VECTORS, vectors, indexing.IMAGE_VECTOR_SCALAR_INDEXES))
        return found


def _compact(table: Any, *, older_than: timedelta | None) -> None:
    if table.count_rows() > 0:
        with warnings.catch_warnings():
            # LanceDB warns that an age of 0 fails readers of older versions: what
            # refresh_indexes says, and `mmrag optimize --help` with it.
            warnings.filterwarnings("ignore", "optimize\\(cleanup_older_than", UserWarning)
            table.optimize(cleanup_older_than=older_than)
