"""LanceDB access for memories: every read and write is for exactly one user.

A change writes the concept row, then its photos, then a history row holding the table
versions from just before the change; :meth:`MemoryStore.undo` reads the old state back
from those versions (LanceDB keeps them) and writes it as the new current state, so
undoing one user's edit never touches anyone else's memories.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pyarrow as pa

from mmrag.errors import StoreError
from mmrag.memory.tables import (
    HISTORY_SCHEMA,
    MEMORIES,
    MEMORY_HISTORY,
    MEMORY_PHOTOS,
    memories_schema,
    photos_schema,
)
from mmrag.store.connect import open_or_create
from mmrag.store.filters import all_of, in_list, sql_str, write_scope

_COLUMNS = ["id", "user", "key", "name", "category", "info", "created_at", "updated_at"]


@dataclass(slots=True)
class MemoryRecord:
    id: str
    user: str
    key: str
    name: str
    category: str = ""
    info: str = ""
    created_at: datetime | None = None
    updated_at: datetime | None = None
    photo_ids: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category,
            "info": self.info,
            "photos": len(self.photo_ids),
            "photo_ids": self.photo_ids,
            "created_at": self.created_at.isoformat() if self.created_at else None,
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


@dataclass(slots=True)
class PhotoRow:
    id: str
    memory_id: str
    data: bytes
    format: str
    origin: str
    vector: np.ndarray | None = None


@dataclass(slots=True)
class PhotoMatch:
    memory_id: str
    photo_id: str
    similarity: float


class MemoryStore:
    def __init__(self, db: Any, text_dim: int, image_dim: int | None) -> None:
        self._db = db
        self.image_dim = image_dim
        self._memories = self._table(MEMORIES, memories_schema(text_dim))
        self._photos = self._table(MEMORY_PHOTOS, photos_schema(image_dim))
        self._history = self._table(MEMORY_HISTORY, HISTORY_SCHEMA)
        if image_dim is not None and "image_vector" not in self._photos.schema.names:
            raise StoreError("this store's memory photos were saved without image features")

    # -- reads ------------------------------------------------------------------------

    def get(self, user: str, key: str) -> MemoryRecord | None:
        rows = (
            self._memories.search()
            .where(all_of(write_scope(user), f"key = {sql_str(key)}"))
            .select(_COLUMNS)
            .limit(1)
            .to_list()
        )
        return self._with_photos(user, [_record(r) for r in rows])[0] if rows else None

    def all(self, user: str) -> list[MemoryRecord]:
        rows = (
            self._memories.search().where(write_scope(user)).select(_COLUMNS).limit(None).to_list()
        )
        return self._with_photos(user, sorted((_record(r) for r in rows), key=lambda m: m.key))

    def count(self, user: str) -> int:
        return int(self._memories.count_rows(write_scope(user)))

    def similar(self, user: str, vector: np.ndarray, limit: int) -> list[tuple[str, float]]:
        """Memory ids whose text is closest to ``vector`` (cosine), best first."""
        if self.count(user) == 0:
            return []
        rows = (
            self._memories.search(vector.astype(np.float32), vector_column_name="text_vector")
            .distance_type("cosine")
            .where(write_scope(user), prefilter=True)
            .select(["id", "_distance"])
            .limit(limit)
            .to_list()
        )
        return [(r["id"], 1.0 - float(r["_distance"])) for r in rows]

    def nearest_photos(self, user: str, vector: np.ndarray, limit: int) -> list[PhotoMatch]:
        if self.image_dim is None or self._photos.count_rows(write_scope(user)) == 0:
            return []
        rows = (
            self._photos.search(vector.astype(np.float32), vector_column_name="image_vector")
            .distance_type("cosine")
            .where(write_scope(user), prefilter=True)
            .select(["id", "memory_id", "_distance"])
            .limit(limit)
            .to_list()
        )
        return [PhotoMatch(r["memory_id"], r["id"], 1.0 - float(r["_distance"])) for r in rows]

    def photo_vectors(self, user: str) -> list[tuple[str, str, np.ndarray]]:
        """Every featured photo of the user as ``(memory_id, photo_id, vector)``.

        Recognition calibrates each concept against the user's other photos, so it reads
        them all (a user's memories hold tens to hundreds of photos, not millions)."""
        if self.image_dim is None:
            return []
        rows = (
            self._photos.search()
            .where(all_of(write_scope(user), "image_vector IS NOT NULL"))
            .select(["id", "memory_id", "image_vector"])
            .limit(None)
            .to_list()
        )
        return [
            (r["memory_id"], r["id"], np.asarray(r["image_vector"], dtype=np.float32))
            for r in sorted(rows, key=lambda r: r["id"])
        ]

    def photo_bytes(self, user: str, photo_id: str) -> tuple[bytes, str] | None:
        rows = (
            self._photos.search()
            .where(all_of(write_scope(user), f"id = {sql_str(photo_id)}"))
            .select(["image_data", "image_format"])
            .limit(1)
            .to_list()
        )
        return (rows[0]["image_data"], rows[0]["image_format"]) if rows else None

    def history(self, user: str) -> list[dict[str, Any]]:
        rows = self._history.search().where(write_scope(user)).limit(None).to_list()
        return sorted(rows, key=lambda r: r["seq"])

    # -- writes -----------------------------------------------------------------------

    def save(
        self,
        record: MemoryRecord,
        text_vector: np.ndarray,
        *,
        add_photos: Sequence[PhotoRow] = (),
        remove_photo_ids: Sequence[str] = (),
        action: str,
    ) -> None:
        before = self._versions()
        now = datetime.now(UTC)
        row = {
            "id": record.id,
            "user": record.user,
            "key": record.key,
            "name": record.name,
            "category": record.category,
            "info": record.info,
            "text_vector": text_vector.astype(np.float32).tolist(),
            "created_at": record.created_at or now,
            "updated_at": now,
        }
        data = pa.Table.from_pylist([row], schema=self._memories.schema)
        self._memories.merge_insert(
            "id"
        ).when_matched_update_all().when_not_matched_insert_all().execute(data)
        if add_photos:
            self._photos.merge_insert(
                "id"
            ).when_matched_update_all().when_not_matched_insert_all().execute(
                self._photo_table(record.user, add_photos, now)
            )
        if remove_photo_ids:
            self._photos.delete(all_of(write_scope(record.user), in_list("id", remove_photo_ids)))
        self._log(record, action, before, now)

    def delete(self, record: MemoryRecord) -> None:
        before = self._versions()
        scope = all_of(write_scope(record.user), f"id = {sql_str(record.id)}")
        self._memories.delete(scope)
        self._photos.delete(all_of(write_scope(record.user), f"memory_id = {sql_str(record.id)}"))
        self._log(record, "remove", before, datetime.now(UTC))

    def undo(self, user: str) -> dict[str, Any] | None:
        """Restore the state before the user's last change; returns that change."""
        changes = self.history(user)
        if not changes:
            return None
        last = changes[-1]
        memory_scope = all_of(write_scope(user), f"id = {sql_str(last['memory_id'])}")
        photo_scope = all_of(write_scope(user), f"memory_id = {sql_str(last['memory_id'])}")
        old_memory = self._rows_at(MEMORIES, last["memories_version"], memory_scope)
        old_photos = self._rows_at(MEMORY_PHOTOS, last["photos_version"], photo_scope)
        self._memories.delete(memory_scope)
        if old_memory:
            self._memories.add(pa.Table.from_pylist(old_memory, schema=self._memories.schema))
        self._photos.delete(photo_scope)
        if old_photos:
            self._photos.add(pa.Table.from_pylist(old_photos, schema=self._photos.schema))
        self._history.delete(all_of(write_scope(user), f"seq = {int(last['seq'])}"))
        return last

    # -- internals --------------------------------------------------------------------

    def _with_photos(self, user: str, records: list[MemoryRecord]) -> list[MemoryRecord]:
        if not records:
            return records
        rows = (
            self._photos.search()
            .where(all_of(write_scope(user), in_list("memory_id", [r.id for r in records])))
            .select(["id", "memory_id", "created_at"])
            .limit(None)
            .to_list()
        )
        by_memory: dict[str, list[tuple[Any, str]]] = {}
        for r in rows:
            by_memory.setdefault(r["memory_id"], []).append((r["created_at"], r["id"]))
        for record in records:
            record.photo_ids = [pid for _, pid in sorted(by_memory.get(record.id, []))]
        return records

    def _photo_table(self, user: str, photos: Sequence[PhotoRow], now: datetime) -> pa.Table:
        rows = []
        for p in photos:
            row: dict[str, Any] = {
                "id": p.id,
                "user": user,
                "memory_id": p.memory_id,
                "image_data": p.data,
                "image_format": p.format,
                "origin": p.origin,
                "created_at": now,
            }
            if self.image_dim is not None:
                row["image_vector"] = (
                    None if p.vector is None else p.vector.astype(np.float32).tolist()
                )
            rows.append(row)
        return pa.Table.from_pylist(rows, schema=self._photos.schema)

    def _rows_at(self, name: str, version: int, where: str) -> list[dict[str, Any]]:
        """Rows matching ``where`` as they were at ``version``.

        A second handle is checked out so the live table keeps pointing at the latest
        version (checking out the live handle would make it read-only)."""
        old = self._db.open_table(name)
        old.checkout(version)
        return list(old.search().where(where).limit(None).to_list())

    def _versions(self) -> tuple[int, int]:
        return int(self._memories.version), int(self._photos.version)

    def _log(
        self, record: MemoryRecord, action: str, before: tuple[int, int], now: datetime
    ) -> None:
        row = {
            "seq": time.time_ns(),
            "user": record.user,
            "memory_id": record.id,
            "action": action,
            "name": record.name,
            "memories_version": before[0],
            "photos_version": before[1],
            "at": now,
        }
        self._history.add(pa.Table.from_pylist([row], schema=HISTORY_SCHEMA))

    def _table(self, name: str, schema: pa.Schema) -> Any:
        return open_or_create(self._db, str(getattr(self._db, "uri", "")), name, schema)


def _record(row: dict[str, Any]) -> MemoryRecord:
    return MemoryRecord(
        id=row["id"],
        user=row["user"],
        key=row["key"],
        name=row["name"],
        category=row.get("category") or "",
        info=row.get("info") or "",
        created_at=row.get("created_at"),
        updated_at=row.get("updated_at"),
    )
