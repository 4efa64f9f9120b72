"""mmrag: multimodal retrieval-augmented generation with a personal memory, on LanceDB."""

from mmrag.api import RAG, StoreStats
from mmrag.config import PipelineConfig, load_pipeline
from mmrag.errors import MmragError
from mmrag.ingest import IngestReport
from mmrag.schema import Node, NodeKind, ScoredNode

__version__ = "0.1.0"

__all__ = [
    "RAG",
    "IngestReport",
    "MmragError",
    "Node",
    "NodeKind",
    "PipelineConfig",
    "ScoredNode",
    "StoreStats",
    "__version__",
    "load_pipeline",
]
