"""Markdown loader: text split at headings (LlamaIndex's parser) plus the images it links."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from llama_index.core import Document
from llama_index.core.node_parser import MarkdownNodeParser
from markdown_it import MarkdownIt

from mmrag.config import IngestConfig
from mmrag.ingest.document import LoadedDocument, TextBlock
from mmrag.ingest.loaders.base import register_loader
from mmrag.ingest.loaders.linked import add_linked_image
from mmrag.ingest.text_decoding import read_text

_INLINE_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_HTML_IMG = re.compile(r"<img\b[^>]*>", re.IGNORECASE)


class MarkdownLoader:
    extensions: tuple[str, ...] = (".md", ".markdown", ".mdx")

    def load(self, path: Path, settings: IngestConfig) -> LoadedDocument:
        source_text = read_text(path)
        out = LoadedDocument(source=str(path), pages=1)
        for src, alt in _image_refs(source_text):
            add_linked_image(out, src, alt, path.parent, settings)
        # Image syntax carries no meaning for search beyond its alt text.
        readable = _INLINE_IMAGE.sub(
            lambda m: f"[image: {m.group(1)}]" if m.group(1) else "", source_text
        )
        sections = MarkdownNodeParser().get_nodes_from_documents([Document(text=readable)])
        for section in sections:
            text = section.get_content()
            if text.strip():
                name = _section_name(str(section.metadata.get("header_path", "")), text)
                out.blocks.append(TextBlock(text=text, metadata={"section": name} if name else {}))
        return out


def _section_name(parents: str, text: str) -> str:
    """Heading path of a section, its own heading included (LlamaIndex gives the parents)."""
    first = text.lstrip().split("\n", 1)[0]
    heading = first.lstrip("#").strip() if first.startswith("#") else ""
    return "/".join(p for p in [*parents.strip("/").split("/"), heading] if p)


def _image_refs(text: str) -> list[tuple[str, str]]:
    """(src, alt) of every image, whether Markdown syntax or inline HTML ``<img>``."""
    refs: list[tuple[str, str]] = []
    tokens = MarkdownIt("commonmark").parse(text)
    for token in tokens:
        for child in token.children or []:
            if child.type == "image":
                refs.append((str(child.attrGet("src") or ""), child.content))
            elif child.type == "html_inline":
                refs.extend(_html_img(child.content))
        if token.type == "html_block":
            refs.extend(_html_img(token.content))
    return refs


def _html_img(html: str) -> list[tuple[str, str]]:
    from bs4 import BeautifulSoup

    found = []
    for tag in _HTML_IMG.findall(html):
        img: Any = BeautifulSoup(tag, "html.parser").find("img")
        if img is not None and img.get("src"):
            found.append((str(img.get("src")), str(img.get("alt") or "")))
    return found


register_loader(MarkdownLoader())
