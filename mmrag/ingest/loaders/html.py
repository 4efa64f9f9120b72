"""HTML loader: visible text (no scripts or styles) plus the images it shows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bs4 import BeautifulSoup

from mmrag.config import IngestConfig
from mmrag.errors import LoaderError
from mmrag.ingest.document import ImageLink, LoadedDocument, TextBlock
from mmrag.ingest.loaders.base import register_loader
from mmrag.ingest.text_decoding import read_text

_INVISIBLE = ["script", "style", "noscript", "template", "svg", "head"]


class HtmlLoader:
    extensions: tuple[str, ...] = (".html", ".htm", ".xhtml")

    def load(self, path: Path, settings: IngestConfig) -> LoadedDocument:
        soup = BeautifulSoup(read_text(path), "html.parser")
        title = soup.title.get_text(strip=True) if soup.title else ""
        out = LoadedDocument(source=str(path), pages=1, metadata={"title": title} if title else {})
        for img in soup.find_all("img"):
            out.links.append(ImageLink(str(img.get("src") or ""), _caption(img), path.parent))
        for tag in soup(_INVISIBLE):
            tag.decompose()
        text = soup.get_text("\n", strip=True)
        if title and not text.startswith(title):
            text = f"{title}\n{text}"
        if not text.strip() and not out.links:
            raise LoaderError(path, "HTML page has no visible text or images")
        if text.strip():
            out.blocks.append(TextBlock(text=text))
        return out


def _caption(img: Any) -> str:
    figure = img.find_parent("figure")
    caption = figure.find("figcaption") if figure is not None else None
    parts = [str(img.get("alt") or ""), caption.get_text(" ", strip=True) if caption else ""]
    return " — ".join(p for p in parts if p)


register_loader(HtmlLoader())
