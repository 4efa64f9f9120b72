"""Word (.docx) loader (python-docx): text by heading section, tables as rows, images.

A .docx has no pages until a word processor lays it out, so blocks carry no page number;
each block is one heading section, in document order, with its heading path as
``section`` and its position as ``section_index`` (1-based) — what a citation can point at.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmrag.config import IngestConfig
from mmrag.errors import LoaderError
from mmrag.ingest.document import LoadedDocument, TextBlock
from mmrag.ingest.loaders.base import register_loader
from mmrag.ingest.loaders.office_common import (
    add_image,
    check_container,
    ensure_content,
    reason,
    require,
    table_text,
)

_HEADING_STYLE = re.compile(r"heading (\d)", re.IGNORECASE)
_BLIP = ".//a:blip/@r:embed"
_DOC_PR = ".//wp:docPr"


@dataclass(slots=True)
class _Section:
    path: list[str] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)


class DocxLoader:
    extensions: tuple[str, ...] = (".docx",)

    def load(self, path: Path, settings: IngestConfig) -> LoadedDocument:
        docx = require("docx", "python-docx", path, "Word (.docx)")
        check_container(path, "Word document")
        try:
            document = docx.Document(str(path))
        except Exception as exc:  # a bad zip, a missing part, broken XML: all one reason
            raise LoaderError(path, f"not a readable Word document ({reason(exc, path)})") from exc
        title = str(document.core_properties.title or "").strip()
        out = LoadedDocument(source=str(path), pages=1, metadata={"title": title} if title else {})
        try:
            _read_body(document, out, path, settings)
        except LoaderError:
            raise
        except Exception as exc:  # python-docx raises plain errors on damaged content
            raise LoaderError(path, f"damaged Word document ({reason(exc, path)})") from exc
        return ensure_content(out, path, "Word document")


def _read_body(document: Any, out: LoadedDocument, path: Path, settings: IngestConfig) -> None:
    section = _Section()
    headings: list[tuple[int, str]] = []
    tables = 0

    def flush() -> None:
        text = "\n".join(p for p in section.parts if p)
        if text.strip():
            meta: dict[str, Any] = {"section_index": len(out.blocks) + 1}
            if section.path:
                meta["section"] = "/".join(section.path)
            out.blocks.append(TextBlock(text=text, metadata=meta))
        section.parts = []

    for block in document.iter_inner_content():
        element = block._element
        if element.tag.endswith("}tbl"):
            tables += 1
            rows = [[cell.text for cell in row.cells] for row in block.rows]
            section.parts.append(table_text(rows))
        else:
            level = _heading_level(block)
            text = block.text.strip()
            if level is not None and text:
                flush()
                headings = [(lvl, name) for lvl, name in headings if lvl < level]
                headings.append((level, text))
                section.path = [name for _, name in headings]
            section.parts.append(block.text)
        _add_images(document, element, out, path, settings, "/".join(section.path))
    flush()
    out.metadata["tables"] = tables


def _heading_level(paragraph: Any) -> int | None:
    """1 for "Heading 1", 0 for the document "Title", None for body text."""
    name = str(getattr(paragraph.style, "name", "") or "")
    if name.lower() == "title":
        return 0
    match = _HEADING_STYLE.match(name)
    return int(match.group(1)) if match else None


def _add_images(
    document: Any,
    element: Any,
    out: LoadedDocument,
    path: Path,
    settings: IngestConfig,
    section: str,
) -> None:
    """Pictures drawn in a paragraph or table, captioned by their alt text."""
    rel_ids = element.xpath(_BLIP)
    if not rel_ids:
        return
    captions = [str(d.get("descr") or d.get("title") or "") for d in element.xpath(_DOC_PR)]
    parts = document.part.related_parts
    for i, rel_id in enumerate(rel_ids):
        part = parts.get(rel_id)
        if part is None or not hasattr(part, "blob"):
            out.warnings.append(f"{path}: picture {rel_id} is missing from the document")
            continue
        add_image(
            out,
            part.blob,
            origin=f"{path} image {Path(str(part.partname)).name}",
            settings=settings,
            page=None,
            caption=captions[i] if i < len(captions) else "",
            metadata={"section": section} if section else {},
        )


register_loader(DocxLoader())
