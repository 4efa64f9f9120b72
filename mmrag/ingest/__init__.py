"""Ingestion: loaders per format, splitting, enrichment and incremental writes."""

from mmrag.ingest.ingestor import Ingestor
from mmrag.ingest.progress import IngestProgress, NullProgress, RichProgress
from mmrag.ingest.report import FileFailure, IngestReport

__all__ = [
    "FileFailure",
    "IngestProgress",
    "IngestReport",
    "Ingestor",
    "NullProgress",
    "RichProgress",
]
