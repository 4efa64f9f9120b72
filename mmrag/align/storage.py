"""The fitted map as a row of the store's ``align`` table (so it travels with the store,
on local disk or object storage alike).

One row per namespace: a map fitted on one user's captions serves that user's searches;
the shared corpus's map serves everyone else. The matrix is float32 bytes in a binary
column, with the embedders it was fitted for, so a store read by another pipeline
ignores a map that does not fit its vectors instead of searching with nonsense.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from mmrag.schema import SHARED_USER
from mmrag.store import Store
from mmrag.store.connect import is_missing_table, open_or_create
from mmrag.store.filters import sql_str
from mmrag.store.retry import retry_conflicts
from mmrag.store.tables import key_field

logger = logging.getLogger(__name__)

ALIGN = "align"

ALIGN_SCHEMA = pa.schema(
    [
        key_field("user"),
        pa.field("image_embedder", pa.string(), nullable=False),
        pa.field("text_embedder", pa.string(), nullable=False),
        pa.field("rows", pa.int32(), nullable=False),
        pa.field("cols", pa.int32(), nullable=False),
        pa.field("matrix", pa.large_binary(), nullable=False),
        # How it was fitted (method, regularisation, pairs, cross-validation): for reports.
        pa.field("info", pa.string()),
        pa.field("fitted_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(slots=True)
class AlignMap:
    """A fitted text -> image-feature map and what it was fitted for.

    Example::

        query_side = align_map.query_vector(text_embedder.embed([q], is_query=True)[0])
        store.vector_search("image_vector", query_side, ...)
    """

    matrix: np.ndarray  # image_dim x text_dim
    image_embedder: str
    text_embedder: str
    user: str = SHARED_USER
    info: dict[str, Any] = field(default_factory=dict)

    def query_vector(self, text_vector: np.ndarray) -> np.ndarray:
        """The caption-side vector to search image features with (cosine)."""
        out = self.matrix @ np.asarray(text_vector, dtype=np.float32)
        norm = float(np.linalg.norm(out))
        return out / norm if norm > 0 else out

    def fits(self, image_embedder: str, image_dim: int, text_embedder: str, text_dim: int) -> bool:
        return (
            self.image_embedder == image_embedder
            and self.text_embedder == text_embedder
            and self.matrix.shape == (image_dim, text_dim)
        )


def save_map(store: Store, align_map: AlignMap) -> None:
    """Write (or replace) the map of ``align_map.user``'s namespace."""
    table = open_or_create(store.db, store.uri, ALIGN, ALIGN_SCHEMA)
    rows, cols = align_map.matrix.shape
    data = pa.Table.from_pylist(
        [
            {
                "user": align_map.user,
                "image_embedder": align_map.image_embedder,
                "text_embedder": align_map.text_embedder,
                "rows": rows,
                "cols": cols,
                "matrix": np.ascontiguousarray(align_map.matrix, dtype="<f4").tobytes(),
                "info": json.dumps(align_map.info),
                "fitted_at": datetime.now(UTC),
            }
        ],
        schema=ALIGN_SCHEMA,
    )
    retry_conflicts(
        lambda: (
            table.merge_insert("user")
            .when_matched_update_all()
            .when_not_matched_insert_all()
            .execute(data)
        ),
        what="writing the alignment map",
        on_retry=table.checkout_latest,
    )


def load_map(store: Store, user: str | None) -> AlignMap | None:
    """The map for ``user``'s searches (their own, else the shared one), or None."""
    try:
        table = store.db.open_table(ALIGN)
    except Exception as exc:
        if is_missing_table(exc):
            return None
        raise
    users = [user, SHARED_USER] if user else [SHARED_USER]
    found = {}
    for name in users:
        rows = table.search().where(f"user = {sql_str(name)}").limit(1).to_list()
        if rows:
            found[name] = rows[0]
    row = next((found[name] for name in users if name in found), None)
    if row is None:
        return None
    matrix = np.frombuffer(row["matrix"], dtype="<f4").reshape(row["rows"], row["cols"])
    return AlignMap(
        matrix=matrix.astype(np.float32),
        image_embedder=row["image_embedder"],
        text_embedder=row["text_embedder"],
        user=row["user"],
        info=json.loads(row["info"] or "{}"),
    )
