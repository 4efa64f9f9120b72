"""The LanceDB store: nodes (with their image bytes), the file ledger and store metadata.

A store is a LanceDB database at a local directory or an object-storage URI
(``s3://bucket/prefix``). Every read is scoped to the shared corpus plus one user's rows;
every write touches one namespace. Writes that replace a file's nodes are single
merge-insert commits, so a reader never sees a half-replaced file and a crash leaves the
previous version intact.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa
from lancedb.index import FTS, Bitmap, BTree, IvfHnswSq

from mmrag.errors import StoreError
from mmrag.schema import Node, NodeKind
from mmrag.store.documents import DOCUMENTS, DOCUMENTS_SCHEMA, DocumentTable
from mmrag.store.files import FileLedger
from mmrag.store.filters import all_of, in_list, read_scope, sql_str, write_scope
from mmrag.store.tables import (
    FILES,
    FILES_SCHEMA,
    META,
    META_SCHEMA,
    NODE_COLUMNS,
    NODES,
    nodes_schema,
    nodes_to_table,
    row_to_node,
)

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1

#: Past this many rows a vector column gets an ANN index; below it, exact search is fast.
VECTOR_INDEX_MIN_ROWS = 100_000


@dataclass(slots=True)
class Hit:
    """One row returned by a single retriever."""

    node: Node
    score: float


class Store:
    """Open with :meth:`Store.open`; see the module docstring for the guarantees."""

    def __init__(self, uri: str, db: Any) -> None:
        self.uri = uri
        self._db = db
        self._nodes: Any | None = None
        self.files = FileLedger(self._open_or_create(FILES, FILES_SCHEMA))
        self.documents = DocumentTable(self._open_or_create(DOCUMENTS, DOCUMENTS_SCHEMA))
        self._meta = self._open_or_create(META, META_SCHEMA)

    @classmethod
    def open(cls, uri: str | Path) -> Store:
        uri = str(uri)
        try:
            if "://" not in uri:
                Path(uri).mkdir(parents=True, exist_ok=True)
            return cls(uri, lancedb.connect(uri))
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
        )
        self._meta.merge_insert(
            "key"
        ).when_matched_update_all().when_not_matched_insert_all().execute(data)

    # -- nodes ------------------------------------------------------------------------

    @property
    def has_nodes(self) -> bool:
        return self._nodes_table(required=False) is not None

    def create_nodes_table(self, text_dim: int, image_dim: int | None) -> None:
        if self._nodes_table(required=False) is None:
            schema = nodes_schema(text_dim, image_dim)
            self._nodes = self._db.create_table(NODES, schema=schema, exist_ok=True)

    def replace_sources(
        self,
        user: str,
        sources: Sequence[str],
        nodes: Sequence[Node],
        images: dict[str, tuple[bytes, str]],
    ) -> None:
        """Make ``nodes`` the complete set of nodes of ``sources`` in one atomic commit."""
        table = self._nodes_table()
        data = nodes_to_table(nodes, table.schema, images)
        scope = all_of(write_scope(user), in_list("source", sources))
        (
            table.merge_insert("id")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .when_not_matched_by_source_delete(scope)
            # Text nodes have no image vector and image nodes no text vector: those nulls
            # are intended, and LanceDB's default would reject them as "bad vectors".
            .execute(data, on_bad_vectors="null")
        )

    def delete_sources(self, user: str, sources: Sequence[str]) -> None:
        table = self._nodes_table(required=False)
        if table is not None and sources:
            table.delete(all_of(write_scope(user), in_list("source", sources)))
        self.documents.delete(user, sources)

    def vector_search(
        self,
        column: str,
        vector: np.ndarray,
        *,
        user: str | None,
        kinds: Sequence[NodeKind],
        limit: int,
        where: str | None = None,
    ) -> list[Hit]:
        table = self._nodes_table(required=False)
        if table is None or column not in table.schema.names:
            return []
        query = (
            table.search(vector.astype(np.float32), vector_column_name=column)
            .distance_type("cosine")
            .where(self._filter(user, kinds, where), prefilter=True)
            .select([*NODE_COLUMNS, "_distance"])
            .limit(limit)
        )
        return [Hit(row_to_node(r), 1.0 - float(r["_distance"])) for r in query.to_list()]

    def full_text_search(
        self,
        text: str,
        *,
        user: str | None,
        kinds: Sequence[NodeKind],
        limit: int,
        where: str | None = None,
    ) -> list[Hit]:
        table = self._nodes_table(required=False)
        if table is None or not text.strip():
            return []
        query = (
            table.search(text, query_type="fts", fts_columns="text")
            .where(self._filter(user, kinds, where), prefilter=True)
            .select([*NODE_COLUMNS, "_score"])
            .limit(limit)
        )
        return [Hit(row_to_node(r), float(r["_score"])) for r in query.to_list()]

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

    # -- maintenance ------------------------------------------------------------------

    def refresh_indexes(self) -> None:
        """Build missing indexes and fold new rows into existing ones, then compact."""
        table = self._nodes_table(required=False)
        if table is None or table.count_rows() == 0:
            return
        existing = {tuple(ix.columns) for ix in table.list_indices()}
        if ("text",) not in existing:
            table.create_index("text", config=FTS(with_position=False))
        for column, config in (("id", BTree()), ("user", Bitmap()), ("kind", Bitmap())):
            if (column,) not in existing:
                table.create_index(column, config=config)
        if ("source",) not in existing:
            table.create_index("source", config=BTree())
        rows = table.count_rows()
        for column in ("text_vector", "image_vector"):
            wanted = rows >= VECTOR_INDEX_MIN_ROWS and column in table.schema.names
            if wanted and (column,) not in existing:
                logger.info("building ANN index on %s (%d rows)", column, rows)
                table.create_index(column, config=IvfHnswSq(distance_type="cosine"))
        table.optimize()
        self.documents.optimize()
        self._db.open_table(FILES).optimize()

    def version(self) -> int:
        table = self._nodes_table(required=False)
        return int(table.version) if table is not None else 0

    def index_names(self) -> list[str]:
        table = self._nodes_table(required=False)
        if table is None:
            return []
        return [f"{ix.index_type}({', '.join(ix.columns)})" for ix in table.list_indices()]

    # -- internals --------------------------------------------------------------------

    def _filter(self, user: str | None, kinds: Sequence[NodeKind], where: str | None) -> str:
        return all_of(read_scope(user), in_list("kind", [k.value for k in kinds]), where)

    def _nodes_table(self, required: bool = True) -> Any:
        if self._nodes is None:
            try:
                self._nodes = self._db.open_table(NODES)
            except (ValueError, FileNotFoundError) as exc:
                if required:
                    raise StoreError(f"store {self.uri} holds no documents yet") from exc
                return None
        return self._nodes

    def _open_or_create(self, name: str, schema: pa.Schema) -> Any:
        try:
            # An existing table is opened as it is: a store written by an older version
            # may lack newer optional columns, which its readers allow for.
            try:
                return self._db.open_table(name)
            except (ValueError, FileNotFoundError):
                return self._db.create_table(name, schema=schema, exist_ok=True)
        except Exception as exc:
            raise StoreError(f"cannot open table '{name}' in store {self.uri}: {exc}") from exc
