"""What a store looks like from outside, so that commands which only read one never
turn some other folder (a documents folder, a typo) into a store.

Every store holds the ``meta`` and ``files`` tables from its first open on, an empty
store too; LanceDB keeps each table of a local store in a ``NAME.lance`` folder. Ingest's
discovery uses the same test to skip a store's data inside a folder being ingested.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mmrag.errors import StoreError
from mmrag.store.connect import explain, is_missing_table, is_remote
from mmrag.store.tables import FILES, META

#: The tables every store has, however new or empty.
REQUIRED_TABLES = (META, FILES)


def is_store_folder(folder: Path) -> bool:
    """Does ``folder`` hold an mmrag store (its required tables side by side)?"""
    return all((folder / f"{table}.lance").is_dir() for table in REQUIRED_TABLES)


def no_store(uri: str) -> StoreError:
    return StoreError(f"no store at {uri}; create one with: mmrag ingest PATH --store {uri}")


def check_local(uri: str, *, create: bool) -> None:
    """Refuse a local ``uri`` that is a file, or (unless ``create``) that holds no store.

    Checked before anything is written: opening a store creates its folder and tables.
    """
    if is_remote(uri):
        return
    path = Path(uri.removeprefix("file://"))
    if path.exists() and not path.is_dir():
        raise StoreError(
            f"{uri} is a file, not a store folder; give the store's folder "
            "(mmrag ingest creates a new one)"
        )
    if not create and not is_store_folder(path):
        raise no_store(uri)


def check_remote(db: Any, uri: str) -> None:
    """Refuse an object-storage ``uri`` that holds no store (one round trip per table)."""
    for table in REQUIRED_TABLES:
        try:
            db.open_table(table)
        except Exception as exc:
            if is_missing_table(exc):
                raise no_store(uri) from exc
            raise explain(uri, exc) from exc
