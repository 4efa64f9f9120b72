"""What a loader hands to the rest of ingestion: text blocks, scans to OCR, and images."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image


@dataclass(slots=True)
class TextBlock:
    """Native text of one page (PDF) or one section (Markdown/HTML) or a whole text file."""

    text: str
    page: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class PageScan:
    """A page whose text exists only as pixels: rendered here, OCR'd during enrichment."""

    page: int
    image: Image.Image


@dataclass(slots=True)
class DocImage:
    """A decoded image of a document, ready for features, OCR and storage."""

    image_id: str
    image: Image.Image
    #: Bytes kept in the store (downscaled, re-encoded when needed) and their format.
    data: bytes
    format: str
    page: int | None = None
    caption: str = ""
    #: OCR is skipped when another step already reads the same pixels (a scan's page image).
    skip_ocr: bool = False
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ImageLink:
    """An image a Markdown or HTML document refers to (path, ``file:`` URL, data URI, URL).

    Loaders only record links; ingest reads the linked files afterwards, under the read
    scope of the run (see :mod:`mmrag.ingest.scope`), so a loader never opens anything
    but its own file.
    """

    src: str
    caption: str
    #: Relative links are relative to this folder (the linking document's).
    base_dir: Path


@dataclass(slots=True)
class LoadedDocument:
    source: str
    blocks: list[TextBlock] = field(default_factory=list)
    scans: list[PageScan] = field(default_factory=list)
    images: list[DocImage] = field(default_factory=list)
    pages: int = 0
    metadata: dict[str, Any] = field(default_factory=dict)
    #: Non-fatal problems (an unreadable embedded image, a missing linked file).
    warnings: list[str] = field(default_factory=list)
    #: Images referred to by the document, read by :func:`mmrag.ingest.loading.load_file`.
    links: list[ImageLink] = field(default_factory=list)
    #: Set when the file was read fine but holds nothing worth indexing (a tiny icon).
    skip_reason: str | None = None
