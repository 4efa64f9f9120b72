"""Text -> image search through a store's fitted map, for pipelines without CLIP."""

from __future__ import annotations

import logging
import threading
from typing import Any

from mmrag.align.storage import ALIGN, AlignMap, load_map
from mmrag.components import Components
from mmrag.store import Store
from mmrag.store.connect import is_missing_table

logger = logging.getLogger(__name__)


class AlignedQueries:
    """The store's fitted map for a user (none: ``None``, and search goes on as before),
    which turns a query's text embedding into a vector to search image features with.

    Maps are read once and again only when the ``align`` table has a new version, so a
    search costs one version check, not a read of the matrix.
    """

    def __init__(self, store: Store, components: Components) -> None:
        self.store = store
        self.components = components
        self._lock = threading.Lock()
        self._table: Any | None = None
        self._cache: dict[str, tuple[int, AlignMap | None]] = {}

    def map_for(self, user: str | None) -> AlignMap | None:
        image = self.components.image_embedder
        if image is None:
            return None
        with self._lock:
            version = self._version()
            if version is None:
                return None
            cached = self._cache.get(user or "")
            if cached is None or cached[0] != version:
                found = load_map(self.store, user)
                text = self.components.text_embedder
                if found is not None and not found.fits(image.name, image.dim, text.name, text.dim):
                    logger.warning(
                        "the store's alignment map was fitted for %s + %s, not this pipeline's "
                        "%s + %s: not used (run mmrag align fit again)",
                        found.image_embedder,
                        found.text_embedder,
                        image.name,
                        text.name,
                    )
                    found = None
                cached = self._cache[user or ""] = (version, found)
            return cached[1]

    def _version(self) -> int | None:
        if self._table is None:
            try:
                self._table = self.store.db.open_table(ALIGN)
            except Exception as exc:
                if is_missing_table(exc):
                    return None  # looked up again next time: a fit may come later
                raise
        return int(self._table.version)
