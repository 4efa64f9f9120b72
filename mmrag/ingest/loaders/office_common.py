"""What the .docx, .pptx and .epub loaders share: importing their optional library, tables
as rows of text, and embedded images decoded the way every other loader decodes them."""

from __future__ import annotations

import importlib
import zipfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TypeVar

from mmrag.config import IngestConfig
from mmrag.errors import LoaderError, MissingDependencyError
from mmrag.ingest.document import LoadedDocument
from mmrag.ingest.images import ImageRejected, decode_image

T = TypeVar("T")

#: The extra that installs every office-format library.
OFFICE_EXTRA = "office"


def require(module: str, package: str, path: Path, what: str) -> ModuleType:
    """Import ``module`` or fail this one file with the install hint.

    A :class:`LoaderError` (not a bare :class:`MissingDependencyError`) so that ingestion
    reports the file as failed, names the extra to install, and goes on with the rest.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        hint = MissingDependencyError(package, OFFICE_EXTRA, f"Reading {what} files")
        raise LoaderError(path, str(hint)) from exc


def open_container(path: Path, what: str, opener: Callable[[str], T]) -> T:
    """``opener(path)``, with one clear reason when the file cannot be opened.

    Office files and EPUBs are ZIP archives: say so plainly when one is not, rather than
    pass on a library's message about a missing "package" or "container"; anything else
    the library raises (a missing part, broken XML) becomes one reason too.
    """
    if path.stat().st_size == 0:
        raise LoaderError(path, "file is empty")
    if not zipfile.is_zipfile(path):
        raise LoaderError(
            path, f"not a readable {what} (not a ZIP archive: damaged, or another format renamed)"
        )
    try:
        return opener(str(path))
    except Exception as exc:  # a bad zip, a missing part, broken XML: all one reason
        raise LoaderError(path, f"not a readable {what} ({reason(exc, path)})") from exc


def reason(exc: Exception, path: Path) -> str:
    """A library's error as a short reason, without the path it may repeat."""
    text = str(exc).splitlines()[0] if str(exc) else ""
    text = text.replace(str(path), "").strip(" :'\"")
    return text or type(exc).__name__


def table_text(rows: Iterable[Sequence[str]]) -> str:
    """A table as one line per row, cells joined by `` | `` (each row stays retrievable as
    a unit, and a header row reads as such). Cells merged across columns repeat in the
    source libraries; consecutive repeats are collapsed."""
    lines = []
    for row in rows:
        cells: list[str] = []
        for cell in row:
            text = " ".join(cell.split())
            if not cells or text != cells[-1]:
                cells.append(text)
        if any(cells):
            lines.append(" | ".join(cells))
    return "\n".join(lines)


def add_image(
    out: LoadedDocument,
    data: bytes,
    *,
    origin: str,
    settings: IngestConfig,
    page: int | None,
    caption: str = "",
    metadata: dict[str, object] | None = None,
) -> None:
    """Decode an embedded image and add it to ``out`` once; problems become warnings.

    Vector formats Pillow cannot read (EMF/WMF clip art) are skipped with a warning, as a
    broken image in a PDF is: the document's text is still worth indexing.
    """
    try:
        decoded = decode_image(data, origin=origin, settings=settings, page=page, caption=caption)
    except LoaderError as exc:
        out.warnings.append(str(exc))
        return
    if isinstance(decoded, ImageRejected):
        return
    if any(im.image_id == decoded.image_id for im in out.images):
        return
    decoded.metadata.update(metadata or {})
    out.images.append(decoded)


def ensure_content(out: LoadedDocument, path: Path, what: str) -> LoadedDocument:
    if not out.blocks and not out.images:
        raise LoaderError(path, f"{what} has no text or images")
    return out
