"""Plain-text and image-file loaders."""

from __future__ import annotations

from pathlib import Path

from mmrag.config import IngestConfig
from mmrag.errors import LoaderError
from mmrag.ingest.document import LoadedDocument, TextBlock
from mmrag.ingest.images import ImageRejected, decode_image
from mmrag.ingest.loaders.base import register_loader
from mmrag.ingest.text_decoding import read_text


class TextLoader:
    extensions: tuple[str, ...] = (".txt", ".text", ".rst", ".log")

    def load(self, path: Path, settings: IngestConfig) -> LoadedDocument:
        return LoadedDocument(source=str(path), pages=1, blocks=[TextBlock(text=read_text(path))])


class ImageFileLoader:
    extensions: tuple[str, ...] = (
        ".jpg",
        ".jpeg",
        ".png",
        ".webp",
        ".gif",
        ".bmp",
        ".tif",
        ".tiff",
    )

    def load(self, path: Path, settings: IngestConfig) -> LoadedDocument:
        data = path.read_bytes()
        if not data:
            raise LoaderError(path, "file is empty")
        caption = path.stem.replace("_", " ").replace("-", " ")
        decoded = decode_image(data, origin=str(path), settings=settings, caption=caption)
        if isinstance(decoded, ImageRejected):
            return LoadedDocument(source=str(path), skip_reason=f"image {decoded.reason}")
        return LoadedDocument(source=str(path), images=[decoded])


register_loader(TextLoader())
register_loader(ImageFileLoader())
