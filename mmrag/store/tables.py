"""Arrow schemas of the store's tables and conversion between rows and nodes."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from mmrag.schema import Node, NodeKind
from mmrag.store import token_vectors

NODES = "nodes"
#: Image feature vectors, one row per image node that has one (see image_vectors_schema).
IMAGE_VECTORS = "image_vectors"
FILES = "files"
#: The nodes table's column of the second text embedder's vectors (optional).
SECOND_VECTOR = "second_vector"
#: The nodes table's column of packed token vectors (optional; ``late_interaction``).
TOKEN_VECTORS = "token_vectors"
META = "meta"

#: Columns read for search results and listings (never vectors or image bytes).
NODE_COLUMNS = ["id", "user", "kind", "doc_id", "source", "page", "text", "image_id", "metadata"]

_PRIMARY_KEY = b"lance-schema:unenforced-primary-key"


def key_field(name: str, position: int = 1) -> pa.Field:
    """A non-null string column declared as (part of) the table's primary key.

    LanceDB does not enforce it, but it makes two writers that merge-insert the same new
    key at once conflict (and the loser retry as an update) instead of both inserting a
    row: what keeps concurrent ingests from duplicating nodes or ledger rows.
    """
    metadata = {_PRIMARY_KEY: b"true", _PRIMARY_KEY + b":position": str(position).encode()}
    return pa.field(name, pa.string(), nullable=False, metadata=metadata)


def _node_fields(*middle: pa.Field) -> list[pa.Field]:
    """A node's columns, with ``middle`` (blobs, vectors) between its image id and its
    metadata."""
    return [
        key_field("id"),
        pa.field("user", pa.string(), nullable=False),
        pa.field("kind", pa.string(), nullable=False),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("page", pa.int32()),
        pa.field("text", pa.string()),
        pa.field("image_id", pa.string()),
        *middle,
        pa.field("metadata", pa.string()),
        pa.field("updated_at", pa.timestamp("us", tz="UTC")),
    ]


def nodes_schema(
    text_dim: int,
    image_dim: int | None = None,
    second_dim: int | None = None,
    *,
    token_vectors: bool = False,
) -> pa.Schema:
    """The nodes table. New stores keep image vectors in a table of their own
    (:func:`image_vectors_schema`) and pass no ``image_dim``; stores made before that
    hold them in an ``image_vector`` column here, which keeps working. ``second_dim``:
    the pipeline's second text embedder's vectors (``second_vector``), when it has one;
    nearly every node has text, so they sit beside the first's rather than apart.
    ``token_vectors``: each text node's packed token vectors (``token_vectors``), read
    only for a query's candidates."""
    vectors = [pa.field("text_vector", pa.list_(pa.float32(), text_dim))]
    if second_dim is not None:
        vectors.append(pa.field(SECOND_VECTOR, pa.list_(pa.float32(), second_dim)))
    if token_vectors:
        vectors.append(pa.field(TOKEN_VECTORS, pa.large_binary()))
    if image_dim is not None:
        vectors.append(pa.field("image_vector", pa.list_(pa.float32(), image_dim)))
    return pa.schema(
        _node_fields(
            # Image bytes live in the store so that a store directory is self-contained.
            pa.field("image_data", pa.large_binary()),
            pa.field("image_format", pa.string()),
            *vectors,
        )
    )


def image_vectors_schema(image_dim: int) -> pa.Schema:
    """Image nodes' feature vectors with the node columns a search filters on and returns.

    Why not a column of the nodes table: a null fixed-size vector still takes its full
    width in Lance files (measured: 100k rows of which 5k hold a 1280-d vector take 512
    MB with any Lance file version), so at 1M nodes, one in 20 an image, 5.1 of 6.7 GB
    were text rows' null image vectors, and building the image index read all of them.
    """
    return pa.schema(_node_fields(pa.field("image_vector", pa.list_(pa.float32(), image_dim))))


FILES_SCHEMA = pa.schema(
    [
        key_field("user", 1),
        key_field("source", 2),
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
        pa.field("size", pa.int64()),
        pa.field("mtime", pa.float64()),
        pa.field("fingerprint", pa.string()),
        pa.field("nodes", pa.int32()),
        pa.field("pages", pa.int32()),
        pa.field("images", pa.int32()),
        pa.field("ingested_at", pa.timestamp("us", tz="UTC")),
    ]
)

META_SCHEMA = pa.schema([key_field("key"), pa.field("value", pa.string())])


def nodes_to_table(
    nodes: Sequence[Node], schema: pa.Schema, images: dict[str, tuple[bytes, str]]
) -> pa.Table:
    """Arrow rows for ``nodes``; ``images`` maps image_id -> (bytes, format) for image nodes."""
    blobs = [
        images.get(n.image_id) if n.kind == NodeKind.IMAGE and n.image_id else None for n in nodes
    ]
    columns: dict[str, Any] = {
        "id": [n.id for n in nodes],
        "user": [n.user for n in nodes],
        "kind": [n.kind.value for n in nodes],
        "doc_id": [n.doc_id for n in nodes],
        "source": [n.source for n in nodes],
        "page": [n.page for n in nodes],
        "text": [n.text for n in nodes],
        "image_id": [n.image_id for n in nodes],
        "image_data": [b[0] if b else None for b in blobs],
        "image_format": [b[1] if b else None for b in blobs],
        "metadata": [json.dumps(n.metadata, ensure_ascii=False, sort_keys=True) for n in nodes],
        "updated_at": [datetime.now(UTC)] * len(nodes),
    }
    if TOKEN_VECTORS in schema.names:
        columns[TOKEN_VECTORS] = [
            token_vectors.pack(n.token_vectors) if n.token_vectors is not None else None
            for n in nodes
        ]
    for column in ("text_vector", SECOND_VECTOR, "image_vector"):
        if column in schema.names:
            columns[column] = _vectors(
                [getattr(n, column) for n in nodes], schema.field(column).type
            )
    return pa.table({name: columns[name] for name in schema.names}, schema=schema)


def with_image_vectors(nodes: Sequence[Node]) -> list[Node]:
    """The nodes that have an image vector: the rows of the image-vectors table."""
    return [n for n in nodes if n.image_vector is not None]


def row_to_node(row: dict[str, Any]) -> Node:
    return Node(
        id=row["id"],
        kind=NodeKind(row["kind"]),
        doc_id=row["doc_id"],
        source=row["source"],
        page=row.get("page"),
        text=row.get("text") or "",
        image_id=row.get("image_id"),
        user=row["user"],
        metadata=json.loads(row.get("metadata") or "{}"),
    )


def _vectors(vectors: list[np.ndarray | None], type_: pa.FixedSizeListType) -> pa.Array:
    """A fixed-size-list column built from numpy in one copy; missing vectors are null."""
    dim = type_.list_size
    flat = np.zeros((len(vectors), dim), dtype=np.float32)
    present = np.zeros(len(vectors), dtype=bool)
    for i, v in enumerate(vectors):
        if v is not None:
            if v.shape != (dim,):
                raise ValueError(f"vector of shape {v.shape} does not fit a {dim}-d column")
            flat[i] = v
            present[i] = True
    values = pa.array(flat.reshape(-1), type=pa.float32())
    return pa.FixedSizeListArray.from_arrays(values, dim, mask=pa.array(~present))
