"""What an ingest run did, for the CLI summary and for callers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mmrag.ingest.discover import Discovery


@dataclass(slots=True)
class FileFailure:
    path: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    """What an ingest run did.

    Outcomes per file are counted in :attr:`counts` (numbers only, the same the CLI's
    summary line prints); the files behind an outcome are in the list named after it:
    ``failed`` and ``ignored`` (path and reason), ``unsupported_files`` (paths).

    Example::

        report = rag.ingest(["docs/"])
        report.counts            # {"seen": 12, "ingested": 10, ..., "failed": 1, ...}
        for f in report.failed:
            print(f.path, f.reason)
    """

    files_seen: int = 0
    ingested: int = 0
    unchanged: int = 0
    skipped: int = 0
    #: How many files inside the given folders have no loader (``unsupported_files``).
    unsupported: int = 0
    pruned: int = 0
    failed: list[FileFailure] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    pages: int = 0
    images: int = 0
    nodes_written: int = 0
    seconds: float = 0.0
    #: Wall time per stage (load, ocr_scans, ocr_images, chunking, image_features, …).
    stage_seconds: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    #: The files counted in ``unsupported``, by path.
    unsupported_files: list[str] = field(default_factory=list)
    #: Entries not read at all, with why: symlink loops, dangling symlinks, symlinks
    #: leading outside the given folders, named pipes, devices (not failures: folders hold
    #: all sorts, but each is named).
    ignored: list[FileFailure] = field(default_factory=list)

    def add_discovery(self, found: Discovery, *, missing_fails: bool = True) -> None:
        """Count and name what discovery took and what it left out. A path that does not
        exist fails, unless ``missing_fails`` is False (``--prune``: a folder named to
        forget the files it held is gone on purpose)."""
        self.files_seen = len(found.files)
        # Absolute, like the paths of failed files, so that lists can be compared.
        self.unsupported_files = [str(Path(p).resolve()) for p in found.unsupported]
        self.unsupported = len(self.unsupported_files)
        self.ignored = [FileFailure(s.path, s.reason) for s in found.skipped]
        if missing_fails:
            self.failed.extend(FileFailure(p, "no such file or directory") for p in found.missing)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted

    @property
    def counts(self) -> dict[str, int]:
        """Files per outcome. ``seen`` (supported files found) is ``ingested + unchanged
        + skipped`` plus the failures among them; a path that does not exist fails
        without being seen."""
        return {
            "seen": self.files_seen,
            "ingested": self.ingested,
            "unchanged": self.unchanged,
            "skipped": self.skipped,
            "failed": len(self.failed),
            "unsupported": self.unsupported,
            "ignored": len(self.ignored),
            "pruned": self.pruned,
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: every field (lists of files included), ``counts`` and ``ok``."""
        data = asdict(self)
        data["counts"] = self.counts
        data["ok"] = self.ok
        return data
