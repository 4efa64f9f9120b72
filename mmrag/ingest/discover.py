"""Finding the files to ingest: explicit files, and directories walked recursively."""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mmrag.ingest.loaders import supported_extensions


@dataclass(slots=True)
class Discovery:
    files: list[Path] = field(default_factory=list)
    #: Paths given on the command line that do not exist.
    missing: list[str] = field(default_factory=list)
    #: Files inside directories with no loader (not errors: directories hold all sorts).
    unsupported: int = 0


def discover(
    paths: Sequence[str | Path],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
) -> Discovery:
    """Resolve ``paths`` into the files to ingest, in a stable order.

    Explicit files are always taken (an unknown format then fails with a clear error).
    Inside directories, hidden entries are skipped, only supported formats are taken, and
    ``include``/``exclude`` globs are matched against the path relative to the directory
    and against the file name (``*.pdf``, ``reports/**``, ``drafts/*``).
    """
    found = Discovery()
    seen: set[Path] = set()
    extensions = set(supported_extensions())

    def add(path: Path) -> None:
        resolved = path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            found.files.append(resolved)

    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_file():
            add(path)
        elif path.is_dir():
            for file in _walk(path):
                rel = file.relative_to(path).as_posix()
                if exclude and _matches(rel, exclude):
                    continue
                if include and not _matches(rel, include):
                    continue
                if file.suffix.lower() not in extensions:
                    found.unsupported += 1
                    continue
                add(file)
        else:
            found.missing.append(str(raw))
    return found


def _walk(root: Path) -> list[Path]:
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        files.extend(Path(dirpath) / f for f in sorted(filenames) if not f.startswith("."))
    return files


def _matches(rel: str, patterns: Sequence[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(
        fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) or rel.startswith(p.rstrip("*/") + "/")
        for p in patterns
    )
