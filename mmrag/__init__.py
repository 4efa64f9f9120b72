"""mmrag: multimodal retrieval-augmented generation with a personal memory, on LanceDB.

The public names load on first use (PEP 562), so ``import mmrag`` and the command line
start fast; ``from mmrag import RAG`` imports what the facade needs, and models load
only when first used.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from mmrag.errors import MmragError

if TYPE_CHECKING:
    from mmrag.api import RAG
    from mmrag.config import PipelineConfig, load_pipeline
    from mmrag.ingest import IngestReport
    from mmrag.schema import Node, NodeKind, ScoredNode
    from mmrag.stats import StoreStats

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_LAZY = {
    "RAG": "mmrag.api",
    "StoreStats": "mmrag.stats",
    "PipelineConfig": "mmrag.config",
    "load_pipeline": "mmrag.config",
    "IngestReport": "mmrag.ingest.report",
    "Node": "mmrag.schema",
    "NodeKind": "mmrag.schema",
    "ScoredNode": "mmrag.schema",
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
