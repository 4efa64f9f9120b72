"""What ingest may read: regular files inside the folders it was given, nothing else.

Two kinds of entries can lead a run outside what the user asked for: symlinks found while
walking a folder, and files that Markdown or HTML documents link to (``![](../../x.png)``,
``file:///etc/passwd``). Both are resolved (symlinks included) and checked against the
same :class:`ReadScope` *before* anything is opened. Special files (named pipes, devices,
sockets) are never opened at all: reading a FIFO blocks forever and ``/dev/zero`` never
ends.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from mmrag.errors import LoaderError


@dataclass(frozen=True, slots=True)
class ReadScope:
    """Folders (resolved, symlinks included) whose files ingest may read.

    Example::

        scope = ReadScope.of([Path("docs")])
        scope.contains(Path("docs/img/a.png").resolve())  # True
        scope.contains(Path("/etc/passwd"))  # False
    """

    roots: tuple[Path, ...]

    @classmethod
    def of(cls, folders: Iterable[str | Path]) -> ReadScope:
        resolved = {Path(os.path.realpath(Path(f).expanduser())) for f in folders}
        # A root inside another adds nothing; dropping it keeps messages short.
        kept = [r for r in resolved if not any(r != o and r.is_relative_to(o) for o in resolved)]
        return cls(tuple(sorted(kept)))

    def contains(self, resolved: Path) -> bool:
        """Whether ``resolved`` (an already resolved path) lies inside one of the roots."""
        return any(resolved.is_relative_to(root) for root in self.roots)

    def describe(self) -> str:
        return ", ".join(str(r) for r in self.roots) or "none"


def kind_of(mode: int) -> str:
    """What a non-regular file is, in words, for the line that says why it was skipped."""
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def read_regular(path: Path, limit: int, *, what: str = "file", truncate: bool = False) -> bytes:
    """Up to ``limit`` bytes of the regular file ``path``; refuses anything else.

    The file is opened non-blocking and checked with ``fstat`` on the open descriptor, so
    a FIFO swapped in after an earlier check neither blocks nor gets read. A file over
    ``limit`` bytes is an error rather than a silent truncation, unless ``truncate`` asks
    for its first ``limit`` bytes only.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise LoaderError(path, f"cannot open {what} ({exc.strerror or exc})") from exc
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise LoaderError(path, f"{what} is {kind_of(info.st_mode)}, not a regular file")
        if truncate:
            return fh.read(limit)
        if info.st_size > limit:
            raise LoaderError(
                path, f"{what} is {_size(info.st_size)}, over the {_size(limit)} limit"
            )
        data = fh.read(limit + 1)
    if len(data) > limit:  # grew since fstat
        raise LoaderError(path, f"{what} is over the {_size(limit)} limit")
    return data


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n >= 100_000 else f"{n:,} bytes"
