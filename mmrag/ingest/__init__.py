"""Ingestion: loaders per format, splitting, enrichment and incremental writes.

``Ingestor`` loads on first use (PEP 562): it brings every loader (PyMuPDF, …) and the
text splitter along, which commands that only read a store do not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmrag.ingest.progress import IngestProgress, NullProgress, RichProgress
from mmrag.ingest.report import FileFailure, IngestReport

if TYPE_CHECKING:
    from mmrag.ingest.ingestor import Ingestor

__all__ = [
    "FileFailure",
    "IngestProgress",
    "IngestReport",
    "Ingestor",
    "NullProgress",
    "RichProgress",
]


def __getattr__(name: str) -> Any:
    if name == "Ingestor":
        from mmrag.ingest.ingestor import Ingestor

        return Ingestor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
