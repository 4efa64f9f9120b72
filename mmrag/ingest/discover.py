"""Finding the files to ingest: explicit files, and directories walked recursively.

Discovery only looks (``stat``), never opens: whatever it takes is a regular file inside
the folders it was given. Everything else it meets is named with the reason it was left
out, so one odd entry (a symlink loop, a named pipe) costs one line, not the run.
Symlinks are followed only when their target lies inside a given folder (or one the
user allowed); hidden entries inside folders are skipped silently, as before, and so is
a store inside a folder being ingested (an mmrag store, or any LanceDB table).
"""

from __future__ import annotations

import errno
import fnmatch
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from mmrag.ingest.loaders import supported_extensions
from mmrag.ingest.scope import ReadScope, kind_of
from mmrag.store.layout import is_store_folder


@dataclass(frozen=True, slots=True)
class Skipped:
    """An entry discovery did not take, and why (one line of the report)."""

    path: str
    reason: str


@dataclass(slots=True)
class Discovery:
    files: list[Path] = field(default_factory=list)
    #: Paths given on the command line that do not exist.
    missing: list[str] = field(default_factory=list)
    #: Files inside directories with no loader (not errors: directories hold all sorts).
    unsupported: list[Path] = field(default_factory=list)
    #: Entries that are not regular files inside the roots: symlink loops, dangling
    #: symlinks, symlinks leading outside, named pipes, devices, sockets, unreadable ones.
    skipped: list[Skipped] = field(default_factory=list)
    #: The folders files were taken from, plus those the user allowed: linked files
    #: (images a Markdown or HTML file refers to) must lie inside them too.
    scope: ReadScope = field(default_factory=lambda: ReadScope(()))


def discover(
    paths: Sequence[str | Path],
    *,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    allow_outside: Sequence[str | Path] = (),
) -> Discovery:
    """Resolve ``paths`` into the files to ingest, in a stable order.

    Explicit files are always taken (an unknown format then fails with a clear error).
    Inside directories, hidden entries are skipped, only supported formats are taken, and
    ``include``/``exclude`` globs are matched against the path relative to the directory
    and against the file name (``*.pdf``, ``reports/**``, ``drafts/*``).

    The read scope is every given directory and the folder of every given file, plus
    ``allow_outside``; a symlink whose target lies outside it is skipped with a line.
    """
    found = Discovery()
    given: list[tuple[str | Path, Path, os.stat_result | None, str | None]] = []
    folders: list[Path] = [Path(p) for p in allow_outside]
    for raw in paths:
        path = Path(raw).expanduser()
        info, problem = _stat(path)
        given.append((raw, path, info, problem))
        if info is not None:
            real = Path(os.path.realpath(path))
            folders.append(real if stat.S_ISDIR(info.st_mode) else real.parent)
    found.scope = ReadScope.of(folders)
    walker = _Walker(found, set(supported_extensions()), include, exclude)
    for raw, path, info, problem in given:
        if info is None:
            if problem is None:
                found.missing.append(str(raw))
            else:
                found.skipped.append(Skipped(str(path), problem))
        elif stat.S_ISDIR(info.st_mode):
            walker.walk(path, info)
        elif stat.S_ISREG(info.st_mode):
            walker.add(path)
        else:
            found.skipped.append(Skipped(str(path), kind_of(info.st_mode)))
    return found


@dataclass(slots=True)
class _Walker:
    found: Discovery
    extensions: set[str]
    include: Sequence[str]
    exclude: Sequence[str]
    seen: set[Path] = field(default_factory=set)
    #: (device, inode) of every directory walked: a folder reached twice (through a
    #: symlink inside the roots) is walked once, so directory symlink loops end.
    walked: set[tuple[int, int]] = field(default_factory=set)

    def add(self, path: Path) -> None:
        resolved = Path(os.path.realpath(path))
        if resolved not in self.seen:
            self.seen.add(resolved)
            self.found.files.append(resolved)

    def walk(self, root: Path, info: os.stat_result) -> None:
        # Depth first in name order (like os.walk top-down): a folder's files, then its
        # sub-folders one after the other.
        stack = [(root, info)]
        while stack:
            folder, folder_info = stack.pop()
            if (folder_info.st_dev, folder_info.st_ino) in self.walked:
                continue
            self.walked.add((folder_info.st_dev, folder_info.st_ino))
            subfolders = self._scan(root, folder)
            stack.extend(reversed(subfolders))

    def _scan(self, root: Path, folder: Path) -> list[tuple[Path, os.stat_result]]:
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as exc:
            self.found.skipped.append(Skipped(str(folder), _reason(exc)))
            return []
        subfolders: list[tuple[Path, os.stat_result]] = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            path = Path(entry.path)
            info, problem = _stat(path)
            is_dir = info is not None and stat.S_ISDIR(info.st_mode)
            if not is_dir and not self._wanted(path.relative_to(root).as_posix()):
                continue
            if info is None:
                self.found.skipped.append(Skipped(str(path), problem or "cannot be read"))
                continue
            if entry.is_symlink():
                target = Path(os.path.realpath(path))
                if not self.found.scope.contains(target):
                    self.found.skipped.append(
                        Skipped(
                            str(path),
                            f"symlink to {target}, outside the folders being ingested; "
                            "not followed (allow it with --allow-links-outside)",
                        )
                    )
                    continue
            if is_dir and not _is_store_data(path):
                subfolders.append((path, info))
            elif is_dir:
                continue  # a store's data, like a hidden folder: never documents
            elif not stat.S_ISREG(info.st_mode):
                self.found.skipped.append(Skipped(str(path), kind_of(info.st_mode)))
            elif path.suffix.lower() not in self.extensions:
                self.found.unsupported.append(path)
            else:
                self.add(path)
        return subfolders

    def _wanted(self, rel: str) -> bool:
        if self.exclude and _matches(rel, self.exclude):
            return False
        return not self.include or _matches(rel, self.include)


def _is_store_data(folder: Path) -> bool:
    """Does ``folder`` hold a store's data rather than documents: an mmrag store (its
    tables side by side) or one LanceDB table? Its data files, manifests and transaction
    files would otherwise be listed one by one as unsupported."""
    if folder.suffix == ".lance":
        return True
    return is_store_folder(folder)


def _stat(path: Path) -> tuple[os.stat_result | None, str | None]:
    """``stat`` following symlinks; on failure, ``(None, why)`` (``why`` is None: missing)."""
    try:
        return path.stat(), None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, "symlink loop (the link leads back to itself); not followed"
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            if path.is_symlink():
                return None, f"dangling symlink (its target {path.readlink()} does not exist)"
            return None, None
        return None, _reason(exc)


def _reason(exc: OSError) -> str:
    return f"cannot be read ({exc.strerror or exc})"


def _matches(rel: str, patterns: Sequence[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(
        fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) or rel.startswith(p.rstrip("*/") + "/")
        for p in patterns
    )
