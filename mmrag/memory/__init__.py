"""Personal memories: a user's own concepts (RAP's Remember-Retrieve-Generate)."""

from mmrag.memory.memories import Memories, MemoryNotFoundError, Recognition
from mmrag.memory.rap import RapImport, export_rap, import_rap
from mmrag.memory.store import MemoryRecord

__all__ = [
    "Memories",
    "MemoryNotFoundError",
    "MemoryRecord",
    "RapImport",
    "Recognition",
    "export_rap",
    "import_rap",
]
