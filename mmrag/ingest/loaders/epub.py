"""EPUB loader (ebooklib): one text block per chapter, chapter index as page.

Chapters are the spine's documents in reading order (the navigation document is a table
of contents, not content, and is left out); page ``n`` is the n-th chapter. Tables are
read as rows; images the chapter shows come from inside the book.
"""

from __future__ import annotations

import posixpath
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from bs4 import BeautifulSoup

from mmrag.config import IngestConfig
from mmrag.errors import LoaderError
from mmrag.ingest.document import LoadedDocument, TextBlock
from mmrag.ingest.loaders.base import register_loader
from mmrag.ingest.loaders.office_common import (
    add_image,
    ensure_content,
    open_container,
    reason,
    require,
    table_text,
)

_INVISIBLE = ["script", "style", "noscript", "template", "head"]


class EpubLoader:
    extensions: tuple[str, ...] = (".epub",)

    def load(self, path: Path, settings: IngestConfig) -> LoadedDocument:
        ebooklib = require("ebooklib", "ebooklib", path, "EPUB")
        epub = require("ebooklib.epub", "ebooklib", path, "EPUB")
        with warnings.catch_warnings():
            # ebooklib warns about its own future defaults on every read.
            warnings.simplefilter("ignore")
            book = open_container(
                path, "EPUB", lambda name: epub.read_epub(name, options={"ignore_ncx": True})
            )
        out = LoadedDocument(source=str(path), metadata=_book_meta(book))
        try:
            for item in _chapters(book, ebooklib.ITEM_DOCUMENT, epub.EpubNav):
                _read_chapter(book, item, out, path, settings)
        except LoaderError:
            raise
        except Exception as exc:  # damaged XHTML or manifest
            raise LoaderError(path, f"damaged EPUB ({reason(exc, path)})") from exc
        return ensure_content(out, path, "EPUB book")


def _chapters(book: Any, document_type: int, nav_type: type) -> list[Any]:
    chapters = []
    for entry in book.spine:
        idref = entry[0] if isinstance(entry, tuple | list) else entry
        item = book.get_item_with_id(idref)
        if item is None or item.get_type() != document_type or isinstance(item, nav_type):
            continue
        chapters.append(item)
    return chapters


def _read_chapter(
    book: Any, item: Any, out: LoadedDocument, path: Path, settings: IngestConfig
) -> None:
    page = out.pages + 1
    soup = BeautifulSoup(item.get_content(), "html.parser")
    for tag in soup(_INVISIBLE):
        tag.decompose()
    name = str(item.get_name())
    shown = 0
    for img in soup.find_all("img"):
        shown += _add_picture(book, name, str(img.get("src") or ""), img, out, path, settings, page)
    for table in soup.find_all("table"):
        rows = [
            [cell.get_text(" ", strip=True) for cell in tr.find_all(["td", "th"])]
            for tr in table.find_all("tr")
        ]
        table.replace_with(soup.new_string("\n" + table_text(rows) + "\n"))
    text = soup.get_text("\n", strip=True)
    if not text and not shown:
        return  # an empty spine entry (a blank page) is not a chapter
    out.pages = page
    if text:
        heading = soup.find(["h1", "h2", "h3"])
        meta = {"chapter": heading.get_text(" ", strip=True)} if heading else {}
        out.blocks.append(TextBlock(text=text, page=page, metadata=meta))


def _add_picture(
    book: Any,
    chapter: str,
    src: str,
    img: Any,
    out: LoadedDocument,
    path: Path,
    settings: IngestConfig,
    page: int,
) -> int:
    """Add the book's image ``src`` refers to (relative to the chapter); 1 if it exists."""
    parsed = urlparse(src)
    if not src or parsed.scheme:
        return 0  # remote images are not fetched: ingestion never goes to the network
    href = posixpath.normpath(posixpath.join(posixpath.dirname(chapter), unquote(parsed.path)))
    item = book.get_item_with_href(href)
    if item is None:
        out.warnings.append(f"{path}: image {src} of {chapter} is missing from the book")
        return 0
    before = len(out.images)
    add_image(
        out,
        item.get_content(),
        origin=f"{path} image {href}",
        settings=settings,
        page=page,
        caption=_caption(img),
    )
    return int(len(out.images) > before)


def _caption(img: Any) -> str:
    figure = img.find_parent("figure")
    caption = figure.find("figcaption") if figure is not None else None
    parts = [str(img.get("alt") or ""), caption.get_text(" ", strip=True) if caption else ""]
    return " — ".join(p for p in parts if p)


def _book_meta(book: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    for key in ("title", "creator", "language"):
        values = book.get_metadata("DC", key)
        if values and values[0][0]:
            meta["author" if key == "creator" else key] = str(values[0][0])
    return meta


register_loader(EpubLoader())
