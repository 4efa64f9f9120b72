"""The loader seam: one loader per file format, chosen by extension."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

from mmrag.config import IngestConfig
from mmrag.errors import UnsupportedFormatError
from mmrag.ingest.document import LoadedDocument


@runtime_checkable
class Loader(Protocol):
    #: Lower-case extensions with the dot, e.g. ``(".pdf",)``.
    extensions: tuple[str, ...]

    def load(self, path: Path, settings: IngestConfig) -> LoadedDocument: ...


_BY_EXTENSION: dict[str, Loader] = {}


def register_loader(loader: Loader) -> Loader:
    for ext in loader.extensions:
        _BY_EXTENSION[ext.lower()] = loader
    return loader


def supported_extensions() -> list[str]:
    return sorted(_BY_EXTENSION)


def loader_for(path: Path) -> Loader:
    loader = _BY_EXTENSION.get(path.suffix.lower())
    if loader is None:
        known = " ".join(supported_extensions())
        raise UnsupportedFormatError(
            path, f"unsupported file type '{path.suffix}' (supported: {known})"
        )
    return loader
