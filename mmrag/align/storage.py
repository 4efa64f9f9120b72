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

from mmrag.align.calibrate import MapCalibration
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
        # P(relevant | the map's cosine) (mmrag.align.calibrate): JSON coefficients and
        # the projected feature statistics. Null in maps stored before it existed.
        pa.field("calibration", pa.string()),
        pa.field("calibration_stats", pa.large_binary()),
    ]
)
#: Columns added after the first stored maps: an older table gains them on the next save.
_LATER_COLUMNS = ("calibration", "calibration_stats")


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
    #: None: the map ranks its candidates, but says nothing of how likely they are.
    calibration: MapCalibration | None = None

    def query_vector(self, text_vector: np.ndarray) -> np.ndarray:
        """The caption-side vector to search image features with (cosine)."""
        out = self.matrix @ np.asarray(text_vector, dtype=np.float32)
        norm = float(np.linalg.norm(out))
        return out / norm if norm > 0 else out

    def relevancy(self, text_vector: np.ndarray, cosines: np.ndarray) -> np.ndarray | None:
        """P(relevant) of images found at ``cosines`` with :meth:`query_vector`, or None
        when the map was stored without a calibration."""
        if self.calibration is None:
            return None
        return self.calibration.probabilities(text_vector, self.matrix, cosines)

    def fits(self, image_embedder: str, image_dim: int, text_embedder: str, text_dim: int) -> bool:
        return (
            self.image_embedder == image_embedder
            and self.text_embedder == text_embedder
            and self.matrix.shape == (image_dim, text_dim)
        )


def save_map(store: Store, align_map: AlignMap) -> None:
    """Write (or replace) the map of ``align_map.user``'s namespace."""
    table = open_or_create(store.db, store.uri, ALIGN, ALIGN_SCHEMA)
    missing = [
        ALIGN_SCHEMA.field(name) for name in _LATER_COLUMNS if name not in table.schema.names
    ]
    if missing:
        table.add_columns(missing)  # all null: the maps already there stay uncalibrated
    rows, cols = align_map.matrix.shape
    calibration = align_map.calibration
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
                "calibration": json.dumps(calibration.to_dict()) if calibration else None,
                "calibration_stats": calibration.stats_bytes() if calibration else None,
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
    calibration = None
    if row.get("calibration") and row.get("calibration_stats"):
        calibration = MapCalibration.restore(
            json.loads(row["calibration"]), row["calibration_stats"], text_dim=row["cols"]
        )
    return AlignMap(
        matrix=matrix.astype(np.float32),
        image_embedder=row["image_embedder"],
        text_embedder=row["text_embedder"],
        user=row["user"],
        info=json.loads(row["info"] or "{}"),
        calibration=calibration,
    )
