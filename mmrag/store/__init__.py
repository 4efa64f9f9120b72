"""LanceDB storage: the only place mmrag persists anything.

``Store`` and ``Hit`` load on first use (PEP 562): importing LanceDB takes seconds, and
commands that never open a store (``mmrag --help``, ``mmrag pipelines``) should not pay
for it when they only need the light helpers in ``mmrag.store.filters``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmrag.store.files import FileLedger, FileRecord

if TYPE_CHECKING:
    from mmrag.store.hits import Hit
    from mmrag.store.store import Store

__all__ = ["FileLedger", "FileRecord", "Hit", "Store"]


def __getattr__(name: str) -> Any:
    if name == "Hit":
        from mmrag.store.hits import Hit

        return Hit
    if name == "Store":
        from mmrag.store.store import Store

        return Store
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
