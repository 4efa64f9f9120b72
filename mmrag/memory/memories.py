"""A user's personal concepts (RAP's Remember step): add, edit, remove, recognise, undo.

Example::

    bo = rag.memories("alice").add("bo", photos=["bo1.jpg"], info="My Shiba Inu.", category="dog")
    rag.memories("alice").recognise("park.jpg")   # -> [Recognition(<bo>, 0.83, claimed=True)]
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from mmrag.components import Components
from mmrag.errors import ConfigError, InvalidNameError, MmragError
from mmrag.ingest.images import encode_for_store, open_query_image
from mmrag.memory.names import display, mentions, normalise
from mmrag.memory.recognition import (
    best_matches,
    claim_floor,
    generic_negatives,
    null_tops,
    self_similarity,
)
from mmrag.memory.store import MemoryRecord, MemoryStore, PhotoRow
from mmrag.models.crop import Cropper, croppers
from mmrag.schema import SHARED_USER, MemoryRef, content_digest
from mmrag.store import Store
from mmrag.store.filters import validate_user

PhotoInput = str | Path | bytes | Image.Image


class MemoryNotFoundError(MmragError):
    """No concept of that name for this user."""


@dataclass(slots=True)
class Recognition:
    memory: MemoryRecord
    similarity: float
    photo_id: str
    #: Clears this concept's claim floor: mmrag claims the photo shows this concept.
    claimed: bool
    #: Similarity minus the next concept's; None when no other concept was compared (a
    #: margin against a stand-in such as -1 would read as a confident lead it is not).
    margin: float | None = None
    #: The similarity this concept needed to be claimed (see ``mmrag.memory.recognition``).
    needed: float = 0.0


class Memories:
    def __init__(self, store: Store, components: Components, user: str) -> None:
        if validate_user(user) == SHARED_USER:
            raise InvalidNameError("memories belong to a user: give a user name")
        self.user = user
        self._store = store
        self._c = components

    @cached_property
    def _db(self) -> MemoryStore:
        # The store records its embedders' sizes: listing memories must not load models.
        meta = self._store.meta()
        text_dim = meta.get("text_dim") or self._c.text_embedder.dim
        if "image_dim" in meta:
            image_dim = meta["image_dim"]
        else:
            image = self._c.image_embedder
            image_dim = image.dim if image else None
        return MemoryStore(self._store.db, int(text_dim), image_dim)

    # -- reading ----------------------------------------------------------------------

    def list(self) -> builtins.list[MemoryRecord]:
        return self._db.all(self.user)

    def show(self, name: str) -> MemoryRecord:
        return self._require(name)

    def photo(self, photo_id: str) -> tuple[bytes, str] | None:
        return self._db.photo_bytes(self.user, photo_id)

    def history(self) -> builtins.list[dict[str, object]]:
        return list(self._db.history(self.user))

    # -- changing ---------------------------------------------------------------------

    def add(
        self, name: str, *, photos: Sequence[PhotoInput] = (), info: str = "", category: str = ""
    ) -> MemoryRecord:
        key = normalise(name)
        if self._db.get(self.user, key) is not None:
            raise ConfigError(f"memory {display(key)} already exists for {self.user}; use edit")
        record = MemoryRecord(
            id=content_digest(f"{self.user}\x1f{key}")[:32],
            user=self.user,
            key=key,
            name=display(key),
            category=category.strip(),
            info=info.strip(),
        )
        self._db.save(
            record, self._text_vector(record), add_photos=self._photos(record, photos), action="add"
        )
        return self._require(key)

    def edit(
        self,
        name: str,
        *,
        info: str | None = None,
        category: str | None = None,
        add_photos: Sequence[PhotoInput] = (),
        remove_photos: Sequence[str] = (),
        rename: str | None = None,
    ) -> MemoryRecord:
        """Change a concept; takes effect at once for retrieval and answers."""
        record = self._require(name)
        if rename is not None and normalise(rename) != record.key:
            new_key = normalise(rename)
            if self._db.get(self.user, new_key) is not None:
                raise ConfigError(f"memory {display(new_key)} already exists for {self.user}")
            record.key, record.name = new_key, display(new_key)
        if info is not None:
            record.info = info.strip()
        if category is not None:
            record.category = category.strip()
        unknown = set(remove_photos) - set(record.photo_ids)
        if unknown:
            raise ConfigError(
                f"{record.name} has no photo {sorted(unknown)[0]}; see `mmrag memory show`"
            )
        self._db.save(
            record,
            self._text_vector(record),
            add_photos=self._photos(record, add_photos),
            remove_photo_ids=list(remove_photos),
            action="edit",
        )
        return self._require(record.key)

    def remove(self, name: str) -> None:
        self._db.delete(self._require(name))

    def undo(self) -> str | None:
        """Undo this user's last change; returns what was undone, e.g. ``"edit <bo>"``."""
        last = self._db.undo(self.user)
        return f"{last['action']} {last['name']}" if last else None

    # -- finding ----------------------------------------------------------------------

    def named_in(self, text: str) -> builtins.list[MemoryRecord]:
        """Concepts the text names (``<bo>`` or ``bo``), longest names first."""
        found = [m for m in self.list() if mentions(text, m.key)]
        return sorted(found, key=lambda m: -len(m.key))

    def recognise(self, image: PhotoInput, *, limit: int = 3) -> builtins.list[Recognition]:
        """Which of the user's concepts ``image`` shows, most similar first.

        Each crop of the image (see the pipeline's ``memory.cropper``) is compared with
        every photo of every concept; a concept's similarity is its best match. It is
        ``claimed`` when it clears its claim floor (a photo may show two of them): with
        ``memory.recognition: calibrated`` that floor is measured per concept from the
        user's own photos (:mod:`mmrag.memory.recognition`), with ``fixed`` it is
        ``memory.recognition_threshold``.
        """
        embedder = self._c.image_embedder
        if embedder is None:
            raise ConfigError(
                f"pipeline '{self._c.config.name}' has no image_embedder to recognise with"
            )
        picture = open_query_image(str(image) if isinstance(image, Path) else image)
        photos = self._db.photo_vectors(self.user)
        if not photos:
            return []
        best = best_matches(embedder.embed_images(self._cropper.crops(picture)), photos)
        floors = self._claim_floors(photos)
        records = {m.id: m for m in self.list()}
        ranked = [kv for kv in sorted(best.items(), key=lambda kv: -kv[1][0]) if kv[0] in records]
        found = []
        for rank, (mid, (sim, pid)) in enumerate(ranked[:limit]):
            following = ranked[rank + 1][1][0] if rank + 1 < len(ranked) else None
            found.append(
                Recognition(
                    records[mid],
                    sim,
                    pid,
                    claimed=sim >= floors[mid],
                    margin=None if following is None else sim - following,
                    needed=floors[mid],
                )
            )
        return found

    def for_question(
        self, question: str, image: Image.Image | None = None
    ) -> builtins.list[MemoryRef]:
        """The concepts to put in front of the model: named ones, then recognised ones."""
        refs: dict[str, MemoryRef] = {}
        for record in self.named_in(question):
            refs[record.id] = _ref(record, None)
        if image is not None and self._c.image_embedder is not None:
            for rec in self.recognise(image):
                if rec.claimed and rec.memory.id not in refs:
                    refs[rec.memory.id] = _ref(rec.memory, rec.similarity)
        return builtins.list(refs.values())[: self._c.config.memory.max_in_prompt]

    # -- internals --------------------------------------------------------------------

    @cached_property
    def _cropper(self) -> Cropper:
        return croppers.create(self._c.config.memory.cropper)

    def _claim_floors(self, photos: builtins.list[tuple[str, str, np.ndarray]]) -> dict[str, float]:
        config = self._c.config.memory
        ids = {memory_id for memory_id, _, _ in photos}
        if config.recognition == "fixed":
            return dict.fromkeys(ids, config.recognition_threshold)
        embedder = self._c.image_embedder
        assert embedder is not None  # recognise() checked
        generic = generic_negatives(
            f"{embedder.name}/{self._cropper.name}", embedder.embed_images, self._cropper.crops
        )
        tops = null_tops(photos, generic)
        own = self_similarity(photos)
        return {
            mid: claim_floor(
                tops[mid], config.recognition_margin, own.get(mid), config.recognition_self_weight
            )
            for mid in ids
        }

    def _require(self, name: str) -> MemoryRecord:
        record = self._db.get(self.user, normalise(name))
        if record is None:
            raise MemoryNotFoundError(f"{self.user} has no memory named {display(name)}")
        return record

    def _text_vector(self, record: MemoryRecord) -> np.ndarray:
        text = f"{record.name} ({record.category}): {record.info}"
        vector: np.ndarray = self._c.text_embedder.embed([text])[0]
        return vector

    def _photos(
        self, record: MemoryRecord, photos: Sequence[PhotoInput]
    ) -> builtins.list[PhotoRow]:
        rows = []
        images = []
        for photo in photos:
            origin = str(photo) if isinstance(photo, str | Path) else "upload"
            picture = open_query_image(str(photo) if isinstance(photo, Path) else photo)
            data, fmt = encode_for_store(
                picture, "JPEG", self._c.config.ingest.stored_image_max_side
            )
            pid = content_digest(f"{self.user}\x1f{record.id}\x1f{content_digest(data)}")[:32]
            rows.append(PhotoRow(pid, record.id, data, fmt, origin))
            images.append(picture)
        embedder = self._c.image_embedder
        if embedder is not None and images:
            for row, vector in zip(rows, embedder.embed_images(images), strict=True):
                row.vector = vector
        return rows


def _ref(record: MemoryRecord, similarity: float | None) -> MemoryRef:
    return MemoryRef(
        name=record.name,
        info=record.info,
        category=record.category,
        image_ids=list(record.photo_ids),
        similarity=similarity,
    )
