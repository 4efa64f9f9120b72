"""Plain-text and image-file loaders."""

from __future__ import annotations

import re
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
        caption = caption_from_filename(path.stem)
        decoded = decode_image(data, origin=str(path), settings=settings, caption=caption)
        if isinstance(decoded, ImageRejected):
            return LoadedDocument(source=str(path), skip_reason=f"image {decoded.reason}")
        return LoadedDocument(source=str(path), images=[decoded])


#: Words cameras and phones put in file names; they describe nothing in the picture.
_CAMERA_WORDS = frozenset({"img", "image", "dsc", "dscn", "dscf", "pxl", "mvimg", "photo", "pic"})
_YEAR = re.compile(r"(19|20)\d\d")


def caption_from_filename(stem: str) -> str:
    """The descriptive words of a file name ("golden_gate-sunset" -> "golden gate sunset").

    Camera counters, dates and hashes ("IMG_2041", "1001773457_577c3a7d70") are dropped:
    as caption text they only make unrelated photos look alike to the text embedder.
    """
    words = [w for w in re.split(r"[\s_\-.]+", stem) if w]
    descriptive = [w for w in words if w.isalpha() and w.lower() not in _CAMERA_WORDS]
    if not descriptive:
        return ""
    # A year next to real words ("paris_2024") says when; alone it is a camera counter.
    return " ".join(w for w in words if w in descriptive or _YEAR.fullmatch(w))


register_loader(TextLoader())
register_loader(ImageFileLoader())
