"""The LanceDB store: nodes (with their image bytes), image vectors, the file ledger and
store metadata.

A store is a LanceDB database at a local directory or an object-storage URI
(``s3://bucket/prefix``). Every read is scoped to the shared corpus plus one user's rows;
every write touches one namespace. Writes that replace a file's nodes are single
merge-insert commits, so a reader never sees a half-replaced file and a crash leaves the
previous version intact.

Several processes (or machines, on object storage) may write one store at once. Each
commit that loses a race with another writer is retried (:mod:`mmrag.store.retry`);
keys are declared so that two writers inserting the same node conflict rather than
both insert; and whatever a crash or a race still leaves is found and healed by the
next ingest or by ``mmrag check --repair`` (:mod:`mmrag.store.health`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mmrag.errors import StoreError
from mmrag.schema import Node, NodeKind
from mmrag.store import indexing, layout
from mmrag.store.ann import AnnSearch
from mmrag.store.connect import connect, explain, is_missing_table, is_remote, open_or_create
from mmrag.store.documents import DOCUMENTS, DOCUMENTS_SCHEMA, DocumentTable
from mmrag.store.exact import ExactSearch
from mmrag.store.files import FileLedger
from mmrag.store.filters import all_of, in_list, read_scope, sql_str, write_scope
from mmrag.store.health import sources_to_redo
from mmrag.store.maintenance import IndexMaintenance
from mmrag.store.retry import retry_conflicts
from mmrag.store.search import Searches
from mmrag.store.tables import (
    FILES,
    FILES_SCHEMA,
    IMAGE_VECTORS,
    META,
    META_SCHEMA,
    NODE_COLUMNS,
    NODES,
    SECOND_VECTOR,
    TOKEN_VECTORS,
    image_vectors_schema,
    nodes_schema,
    nodes_to_table,
    with_image_vectors,
)
from mmrag.store.token_vectors import unpack as unpack_tokens
from mmrag.store.writes import replace_rows

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1


class Store(IndexMaintenance, Searches):
    """Open with :meth:`Store.open`; see the module docstring for the guarantees."""

    def __init__(self, uri: str, db: Any) -> None:
        self.uri = uri
        self._db = db
        self._nodes: Any | None = None
        self._image_vectors: Any | None = None
        self.files = FileLedger(self._open_or_create(FILES, FILES_SCHEMA))
        self.documents = DocumentTable(self._open_or_create(DOCUMENTS, DOCUMENTS_SCHEMA))
        self._meta = self._open_or_create(META, META_SCHEMA)
        #: Query-time vector search settings (nprobes, refine factor); see indexing.SEARCH.
        self.search_params = indexing.SEARCH
        #: Small unindexed tables are searched from an in-memory copy (mmrag.store.exact).
        self.exact = ExactSearch(NODE_COLUMNS, max_rows=indexing.VECTOR_INDEX_MIN_ROWS)
        self.exact_images = ExactSearch(NODE_COLUMNS, max_rows=indexing.VECTOR_INDEX_MIN_ROWS)
        #: Larger ones through their ANN index, the scope filtered before or after it
        #: (a column lives in one table of a store, so one searcher serves both).
        self.ann = AnnSearch()

    @classmethod
    def open(
        cls,
        uri: str | Path,
        *,
        storage_options: dict[str, str] | None = None,
        read_consistency_interval: float | None = None,
        create: bool = True,
    ) -> Store:
        """Open or create the store at a directory or object-storage URI.

        Object storage takes its endpoint, region and credentials from the AWS
        environment variables, ``storage_options``, or the URI's query string (see
        :mod:`mmrag.store.connect`); a store that cannot be reached is one
        :class:`StoreError` saying what to set. ``read_consistency_interval``: see
        :func:`mmrag.store.connect.connect` (servers set it; one command does not).
        ``create=False`` (for readers) refuses a place that holds no store, writing
        nothing there (see :mod:`mmrag.store.layout`).
        """
        uri = str(uri)
        layout.check_local(uri, create=create)
        try:
            if "://" not in uri:
                Path(uri).mkdir(parents=True, exist_ok=True)
            db = connect(uri, storage_options, read_consistency_interval=read_consistency_interval)
            if not create and is_remote(uri):
                layout.check_remote(db, uri)
            return cls(uri, db)
        except OSError as exc:
            raise StoreError(f"cannot open store at {uri}: {exc}") from exc

    @property
    def db(self) -> Any:
        """The LanceDB connection, for other packages' tables (memories)."""
        return self._db

    # -- metadata ---------------------------------------------------------------------

    def meta(self) -> dict[str, Any]:
        rows = self._meta.search().limit(None).to_arrow().to_pylist()
        return {r["key"]: json.loads(r["value"]) for r in rows}

    def set_meta(self, values: dict[str, Any]) -> None:
        data = pa.Table.from_pylist(
            [{"key": k, "value": json.dumps(v)} for k, v in values.items()], schema=META_SCHEMA
        ).cast(self._meta.schema)
        retry_conflicts(
            lambda: (
                self._meta.merge_insert("key")
                .when_matched_update_all()
                .when_not_matched_insert_all()
                .execute(data)
            ),
            what="writing store metadata",
            on_retry=self._meta.checkout_latest,
        )

    # -- nodes ------------------------------------------------------------------------

    @property
    def has_nodes(self) -> bool:
        return self._nodes_table(required=False) is not None

    def create_nodes_table(
        self,
        text_dim: int,
        image_dim: int | None,
        second_dim: int | None = None,
        *,
        token_vectors: bool = False,
    ) -> None:
        """Create the nodes table (with a column for a second text embedder's vectors
        when ``second_dim``, and one for token vectors when ``token_vectors``), and the
        image-vectors table when there are image features (``image_dim``), where they do
        not exist yet."""
        nodes = self._nodes_table(required=False)
        if nodes is None:
            schema = nodes_schema(text_dim, second_dim=second_dim, token_vectors=token_vectors)
            nodes = self._nodes = self._open_or_create(NODES, schema)
        if second_dim is not None and SECOND_VECTOR not in nodes.schema.names:
            raise StoreError(
                f"store {self.uri} was built without a second text embedder's vectors; "
                "ingest into a new --store to use a pipeline that has one"
            )
        if token_vectors and TOKEN_VECTORS not in nodes.schema.names:
            raise StoreError(
                f"store {self.uri} was built without token vectors; ingest into a new "
                "--store to use a pipeline with late_interaction"
            )
        inline = "image_vector" in nodes.schema.names  # a store made before the split
        if image_dim is not None and not inline and self._image_vectors_table() is None:
            self._image_vectors = self._open_or_create(
                IMAGE_VECTORS, image_vectors_schema(image_dim)
            )

    def replace_sources(
        self,
        user: str,
        sources: Sequence[str],
        nodes: Sequence[Node],
        images: dict[str, tuple[bytes, str]],
        *,
        heal: bool = False,
    ) -> None:
        """Make ``nodes`` the complete set of nodes of ``sources`` in one atomic commit.

        Rows of these sources that are not in ``nodes`` are gone afterwards; with
        ``heal`` (sources found broken), so are extra copies of the same node.
        """
        table = self._nodes_table()
        scope = all_of(write_scope(user), in_list("source", sources))
        # Nodes first, then their image vectors: a crash between the two commits leaves
        # these files out of the ledger (written after), so the next ingest redoes them.
        data = nodes_to_table(nodes, table.schema, images)
        replace_rows(table, data, scope, heal=heal, what="writing nodes")
        # Only stores whose nodes table has no image-vector column get this table.
        vectors = self._image_vectors_table()
        if vectors is not None:
            rows = nodes_to_table(with_image_vectors(nodes), vectors.schema, {})
            replace_rows(vectors, rows, scope, heal=heal, what="writing image vectors")

    def sources_to_redo(self, user: str, recorded: dict[str, int]) -> set[str]:
        """Files of ``user`` whose stored nodes disagree with the ledger's counts."""
        return sources_to_redo(
            self._nodes_table(required=False), user, recorded, images=self._image_vectors_table()
        )

    def delete_sources(self, user: str, sources: Sequence[str]) -> None:
        scope = all_of(write_scope(user), in_list("source", sources))
        for table in (self._nodes_table(required=False), self._image_vectors_table()):
            if table is not None and sources:
                retry_conflicts(
                    partial(table.delete, scope),
                    what="deleting nodes",
                    on_retry=table.checkout_latest,
                )
        self.documents.delete(user, sources)

    def page_texts(
        self, pages: Sequence[tuple[str, int]], *, user: str | None
    ) -> dict[tuple[str, int], list[str]]:
        """Each (source, page)'s text chunks in reading order, for answers that read whole
        pages rather than the one chunk retrieval ranked (pages the user may not see, or
        that hold no text, are absent)."""
        table = self._nodes_table(required=False)
        wanted = list(dict.fromkeys(pages))
        if table is None or not wanted:
            return {}
        which = " OR ".join(f"(source = {sql_str(s)} AND page = {int(p)})" for s, p in wanted)
        where = all_of(read_scope(user), f"kind = '{NodeKind.TEXT.value}'", f"({which})")
        columns = ["source", "page", "text", "metadata"]
        rows = table.search().where(where).select(columns).limit(None).to_list()
        found: dict[tuple[str, int], list[tuple[int, str]]] = {}
        for row in rows:
            chunk = int(json.loads(row["metadata"] or "{}").get("chunk", 0))
            found.setdefault((row["source"], row["page"]), []).append((chunk, row["text"] or ""))
        return {key: [text for _, text in sorted(chunks)] for key, chunks in found.items()}

    def second_vectors(self, ids: Sequence[str]) -> dict[str, np.ndarray]:
        """The second text embedder's vector of each node of ``ids`` that has one (none
        when the store keeps no such vectors). The ids come from a scoped search, so no
        scope is applied again here."""
        rows = self._column_of(ids, SECOND_VECTOR)
        if rows is None or rows.num_rows == 0:
            return {}
        matrix = np.asarray(rows.column(SECOND_VECTOR).combine_chunks().flatten(), np.float32)
        matrix = matrix.reshape(rows.num_rows, -1)
        return dict(zip(rows.column("id").to_pylist(), matrix, strict=True))

    def token_vectors(self, ids: Sequence[str], dim: int) -> dict[str, np.ndarray]:
        """The stored token vectors (n x ``dim``) of each node of ``ids`` that has them
        (none when the store keeps none). Like :meth:`second_vectors`, unscoped."""
        rows = self._column_of(ids, TOKEN_VECTORS)
        if rows is None:
            return {}
        out = {}
        for node_id, blob in zip(
            rows.column("id").to_pylist(), rows.column(TOKEN_VECTORS).to_pylist(), strict=True
        ):
            try:
                out[node_id] = unpack_tokens(blob, dim)
            except ValueError as exc:
                raise StoreError(
                    f"store {self.uri}: the token vectors of node {node_id} do not fit the "
                    f"text embedder's {dim} dimensions ({exc}); re-ingest its file"
                ) from exc
        return out

    def _column_of(self, ids: Sequence[str], column: str) -> pa.Table | None:
        """``id`` and the optional nodes-table ``column`` of the nodes of ``ids`` where it
        is set; None when the store has no such column."""
        table = self._nodes_table(required=False)
        wanted = list(dict.fromkeys(ids))
        if table is None or not wanted or column not in table.schema.names:
            return None
        where = all_of(in_list("id", wanted), f"{column} IS NOT NULL")
        rows: pa.Table = table.search().where(where).select(["id", column]).limit(None).to_arrow()
        return rows

    def image_bytes(self, image_id: str, *, user: str | None) -> tuple[bytes, str] | None:
        """The stored bytes and format ("png", "jpeg", …) of an image the user may see."""
        table = self._nodes_table(required=False)
        if table is None:
            return None
        where = all_of(
            read_scope(user), f"image_id = {sql_str(image_id)}", "image_data IS NOT NULL"
        )
        rows = table.search().where(where).select(["image_data", "image_format"]).limit(1).to_list()
        return (rows[0]["image_data"], rows[0]["image_format"]) if rows else None

    def count(self, *, user: str | None, only_own: bool = False) -> dict[str, int]:
        """Node counts by kind, for the shared corpus plus ``user`` (or ``user`` only)."""
        table = self._nodes_table(required=False)
        if table is None:
            return {}
        scope = write_scope(user) if only_own else read_scope(user)
        kinds = table.search().where(scope).select(["kind"]).limit(None).to_arrow()
        counts = kinds.group_by("kind").aggregate([("kind", "count")]).to_pylist()
        return {r["kind"]: int(r["kind_count"]) for r in counts}

    def sources(self, *, user: str | None) -> list[str]:
        table = self._nodes_table(required=False)
        if table is None:
            return []
        rows = table.search().where(read_scope(user)).select(["source"]).limit(None).to_arrow()
        return sorted(set(rows.column("source").to_pylist()))

    def version(self) -> int:
        table = self._nodes_table(required=False)
        return int(table.version) if table is not None else 0

    def image_features(self, *, user: str | None) -> pa.Table:
        """image_id, source, text and image_vector of every image node the user may see
        that has image features (empty when the store has none)."""
        table, _ = self._vector_table("image_vector")
        columns = ["image_id", "source", "text", "image_vector"]
        if table is None or "image_vector" not in table.schema.names:
            return pa.table({c: [] for c in columns})
        where = all_of(
            read_scope(user), f"kind = {sql_str(NodeKind.IMAGE.value)}", "image_vector IS NOT NULL"
        )
        return table.search().where(where).select(columns).limit(None).to_arrow()

    # -- internals --------------------------------------------------------------------

    def _filter(self, user: str | None, kinds: Sequence[NodeKind], where: str | None) -> str:
        return all_of(read_scope(user), in_list("kind", [k.value for k in kinds]), where)

    def _nodes_table(self, required: bool = True) -> Any:
        if self._nodes is None:
            try:
                self._nodes = self._db.open_table(NODES)
            except Exception as exc:
                # Only "no such table" means an empty store; failing to reach the store
                # must not be mistaken for it (and lead to creating a table there).
                if not is_missing_table(exc):
                    raise explain(self.uri, exc) from exc
                if required:
                    raise StoreError(f"store {self.uri} holds no documents yet") from exc
                return None
        return self._nodes

    def _image_vectors_table(self) -> Any | None:
        """The image-vectors table, or None (no image features, or a store made before
        they had a table of their own)."""
        if self._image_vectors is None:
            try:
                self._image_vectors = self._db.open_table(IMAGE_VECTORS)
            except Exception as exc:
                if not is_missing_table(exc):
                    raise explain(self.uri, exc) from exc
                return None
        return self._image_vectors

    def _vector_table(self, column: str) -> tuple[Any | None, ExactSearch]:
        """The table holding ``column`` (``text_vector`` or ``image_vector``) and its
        in-memory exact search; None when the store has no such table."""
        nodes = self._nodes_table(required=False)
        if column == "image_vector" and (nodes is None or column not in nodes.schema.names):
            return self._image_vectors_table(), self.exact_images
        return nodes, self.exact

    def _open_or_create(self, name: str, schema: pa.Schema) -> Any:
        return open_or_create(self._db, self.uri, name, schema)
