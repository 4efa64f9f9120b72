"""What an ingest run did, for the CLI summary and for callers."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class FileFailure:
    path: str
    reason: str


@dataclass(slots=True)
class IngestReport:
    files_seen: int = 0
    ingested: int = 0
    unchanged: int = 0
    skipped: int = 0
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

    @property
    def ok(self) -> bool:
        return not self.failed and not self.interrupted

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data
