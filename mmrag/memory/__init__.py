"""Personal memories: a user's own concepts (RAP's Remember-Retrieve-Generate)."""

from mmrag.memory.memories import Memories, MemoryNotFoundError, Recognition
from mmrag.memory.rap import export_rap, import_rap
from mmrag.memory.store import MemoryRecord

__all__ = [
    "Memories",
    "MemoryNotFoundError",
    "MemoryRecord",
    "Recognition",
    "export_rap",
    "import_rap",
]
