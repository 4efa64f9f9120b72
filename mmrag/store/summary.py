"""Answers of read-only commands (``stats``, ``memory list``), kept while no table changed.

Opening a store means importing LanceDB, which alone takes about two seconds: most of
``mmrag stats``. The answer depends only on the tables' contents, and every change to a
LanceDB table commits a new version, announced by a new manifest file in the table's
``_versions`` folder. So an answer is saved beside the table versions it was computed
from, and given again only while every table is still at exactly those versions; listing
a few folders needs no LanceDB. Anything unexpected (another manifest naming, a store in
object storage, an unreadable cache) just means computing the answer the usual way.

The versions are read *before* the store is opened to compute the answer, so an answer
can only be newer than the versions saved with it, never older: a change committed
meanwhile makes the next check miss, never serve a stale answer.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

#: Where answers are kept, inside a local store's folder.
CACHE_DIR = ".mmrag-cache"
#: Bump when the saved answers change shape, so older files are ignored.
FORMAT = 1

_U64_MAX = 2**64 - 1


def table_versions(store: str | Path) -> dict[str, int] | None:
    """The latest version of every table of a local store; ``None`` when it cannot tell."""
    root = _local_root(store)
    if root is None:
        return None
    try:
        tables = sorted(p for p in root.iterdir() if p.name.endswith(".lance") and p.is_dir())
        versions = {t.name: _latest_version(t / "_versions") for t in tables}
    except OSError:
        return None
    if not versions or any(v is None for v in versions.values()):
        return None
    return {name: v for name, v in versions.items() if v is not None}


def recall(store: str | Path, key: str) -> Any | None:
    """The answer saved under ``key``, if every table is still where it was; else None."""
    return _saved(store, key, table_versions(store))


def remember(store: str | Path, key: str, compute: Callable[[], Any]) -> Any:
    """Compute the answer (opening the store inside ``compute``), save it, and return it.

    ``compute`` must open the store itself, after this has read the table versions (see
    the module docstring). Failing to save (a read-only store) is not an error.
    """
    return _compute_and_save(store, key, compute, table_versions(store))


def recall_or_compute(store: str | Path, key: str, compute: Callable[[], Any]) -> Any:
    """The saved answer when still valid, else a freshly computed one, saved."""
    versions = table_versions(store)  # once: both the check and the save use them
    saved = _saved(store, key, versions)
    return saved if saved is not None else _compute_and_save(store, key, compute, versions)


def refresh(store: str | Path, key: str, compute: Callable[[], Any]) -> None:
    """:func:`remember` after a write, while the store is open anyway, so that the next
    read-only command finds the answer saved. A failure here is only logged: it is not
    the failure of the write that came before."""
    try:
        remember(store, key, compute)
    except Exception as exc:
        logger.debug("could not save %s for %s: %s", key, store, exc)


def _saved(store: str | Path, key: str, versions: dict[str, int] | None) -> Any | None:
    path = _entry(store, key)
    if versions is None or path is None:
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        return None
    if saved.get("key") != key or saved.get("versions") != versions:
        return None
    return saved.get("answer")


def _compute_and_save(
    store: str | Path, key: str, compute: Callable[[], Any], versions: dict[str, int] | None
) -> Any:
    answer = compute()
    path = _entry(store, key)
    if versions is not None and path is not None:
        record = {"format": FORMAT, "key": key, "versions": versions, "answer": answer}
        try:
            _write_atomically(path, json.dumps(record, default=str))
        except OSError as exc:
            logger.debug("not caching %s in %s: %s", key, store, exc)
    return answer


def _local_root(store: str | Path) -> Path | None:
    text = str(store)
    if "://" in text and not text.startswith("file://"):
        return None  # object storage: listing versions would cost a round trip each
    root = Path(text.removeprefix("file://"))
    return root if root.is_dir() else None


def _latest_version(versions_dir: Path) -> int | None:
    """The newest version among the manifests of one table (Lance names them either
    ``N.manifest`` or, in its newer scheme, ``(2**64 - 1 - N).manifest``)."""
    stems = [p.name[: -len(".manifest")] for p in versions_dir.iterdir() if p.suffix == ".manifest"]
    numbers = [int(stem) for stem in stems if stem.isdigit()]
    if not numbers:
        return None
    return max(_U64_MAX - n if n > 2**63 else n for n in numbers)


def _entry(store: str | Path, key: str) -> Path | None:
    root = _local_root(store)
    if root is None:
        return None
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:24]
    return root / CACHE_DIR / f"{digest}.json"


def _write_atomically(path: Path, text: str) -> None:
    path.parent.mkdir(exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        Path(temporary).replace(path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
