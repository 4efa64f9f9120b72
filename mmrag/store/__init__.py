"""LanceDB storage: the only place mmrag persists anything."""

from mmrag.store.files import FileLedger, FileRecord
from mmrag.store.store import Hit, Store

__all__ = ["FileLedger", "FileRecord", "Hit", "Store"]
