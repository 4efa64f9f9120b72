"""The memory tables: concepts, their photos, and the history of changes for undo."""

from __future__ import annotations

import pyarrow as pa

from mmrag.store.tables import key_field

MEMORIES = "memories"
MEMORY_PHOTOS = "memory_photos"
MEMORY_HISTORY = "memory_history"


def memories_schema(text_dim: int) -> pa.Schema:
    return pa.schema(
        [
            # Declared keys: two processes adding the same concept at once conflict and
            # retry instead of both inserting a row (see mmrag.store.tables.key_field).
            key_field("id"),
            pa.field("user", pa.string(), nullable=False),
            #: Normalised name used for matching ("bo" for "<bo>").
            pa.field("key", pa.string(), nullable=False),
            pa.field("name", pa.string(), nullable=False),
            pa.field("category", pa.string()),
            pa.field("info", pa.string()),
            pa.field("text_vector", pa.list_(pa.float32(), text_dim)),
            pa.field("created_at", pa.timestamp("us", tz="UTC")),
            pa.field("updated_at", pa.timestamp("us", tz="UTC")),
        ]
    )


def photos_schema(image_dim: int | None) -> pa.Schema:
    fields = [
        key_field("id"),
        pa.field("user", pa.string(), nullable=False),
        pa.field("memory_id", pa.string(), nullable=False),
        pa.field("image_data", pa.large_binary()),
        pa.field("image_format", pa.string()),
        pa.field("origin", pa.string()),
        pa.field("created_at", pa.timestamp("us", tz="UTC")),
    ]
    if image_dim is not None:
        fields.append(pa.field("image_vector", pa.list_(pa.float32(), image_dim)))
    return pa.schema(fields)


HISTORY_SCHEMA = pa.schema(
    [
        pa.field("seq", pa.int64(), nullable=False),
        pa.field("user", pa.string(), nullable=False),
        pa.field("memory_id", pa.string(), nullable=False),
        pa.field("action", pa.string(), nullable=False),
        pa.field("name", pa.string()),
        #: Table versions just before the change: undo reads the old state from them.
        pa.field("memories_version", pa.int64()),
        pa.field("photos_version", pa.int64()),
        pa.field("at", pa.timestamp("us", tz="UTC")),
    ]
)
