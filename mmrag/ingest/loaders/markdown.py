"""Markdown loader: text split at headings (LlamaIndex's parser) plus the images it links."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from llama_index.core import Document
from llama_index.core.node_parser import MarkdownNodeParser

from mmrag.config import IngestConfig
from mmrag.ingest.document import ImageLink, LoadedDocument, TextBlock
from mmrag.ingest.loaders.base import register_loader
from mmrag.ingest.text_decoding import read_text

# Image syntax, matched in linear time. Alt text may not hold brackets and a target no
# parentheses but one balanced pair (``Foo_(bar).png``), so every match attempt stops at
# the next bracket or parenthesis: the obvious ``!\[([^\]]*)\]\([^)]*\)`` (and a full
# Markdown parse) took 79 s on an 80 KB line of "![![![…" and would not finish on 5 MB.
_INLINE_IMAGE = re.compile(
    r"!\[(?P<alt>[^\[\]]*)\]\(\s*(?P<src><[^<>\n]*>|(?:[^\s()<>]|\([^\s()<>]*\))*)"
    r"(?:\s+(?:\"[^\"()]*\"|'[^'()]*'))?\s*\)"
)
#: ``![alt][label]`` and ``![alt][]``, resolved through ``[label]: src`` definitions.
_REF_IMAGE = re.compile(r"!\[(?P<alt>[^\[\]]*)\]\[(?P<label>[^\[\]]*)\]")
_REF_DEFINITION = re.compile(
    r"^ {0,3}\[(?P<label>[^\[\]]+)\]:[ \t]*(?P<src><[^<>\n]*>|\S+)", re.MULTILINE
)
_HTML_IMG = re.compile(r"<img\b[^<>]*>", re.IGNORECASE)
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


class MarkdownLoader:
    extensions: tuple[str, ...] = (".md", ".markdown", ".mdx")

    def load(self, path: Path, settings: IngestConfig) -> LoadedDocument:
        source_text = read_text(path)
        out = LoadedDocument(source=str(path), pages=1)
        for src, alt in _image_refs(source_text):
            out.links.append(ImageLink(src, alt, path.parent))
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
    """(src, alt) of every image in document order, Markdown syntax or HTML ``<img>``.

    Images inside fenced code blocks are examples, not images, and are left out.
    """
    prose = _outside_fences(text)
    labels = {
        m["label"].strip().lower(): m["src"].strip("<>") for m in _REF_DEFINITION.finditer(prose)
    }
    found: list[tuple[int, str, str]] = [
        (m.start(), m["src"].strip("<>"), m["alt"]) for m in _INLINE_IMAGE.finditer(prose)
    ]
    for m in _REF_IMAGE.finditer(prose):
        src = labels.get((m["label"] or m["alt"]).strip().lower())
        if src:
            found.append((m.start(), src, m["alt"]))
    for m in _HTML_IMG.finditer(prose):
        found.extend((m.start(), src, alt) for src, alt in _html_img(m.group(0)))
    return [(src, alt) for _, src, alt in sorted(found, key=lambda f: f[0])]


def _outside_fences(text: str) -> str:
    """``text`` with the lines of fenced code blocks blanked (offsets are kept)."""
    lines = text.splitlines(keepends=True)
    fence = ""
    for i, line in enumerate(lines):
        opening = _FENCE.match(line)
        if fence:
            if opening and opening.group(1).startswith(fence):
                fence = ""
            lines[i] = "\n" if line.endswith("\n") else ""
        elif opening:
            fence = opening.group(1)[0] * 3
            lines[i] = "\n" if line.endswith("\n") else ""
    return "".join(lines)


def _html_img(tag: str) -> list[tuple[str, str]]:
    from bs4 import BeautifulSoup

    img: Any = BeautifulSoup(tag, "html.parser").find("img")
    if img is None or not img.get("src"):
        return []
    return [(str(img.get("src")), str(img.get("alt") or ""))]


register_loader(MarkdownLoader())
