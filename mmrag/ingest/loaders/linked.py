"""Images that Markdown and HTML documents refer to by path or data URI."""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from urllib.parse import unquote, urlparse

from mmrag.config import IngestConfig
from mmrag.errors import LoaderError
from mmrag.ingest.document import LoadedDocument
from mmrag.ingest.images import ImageRejected, decode_image


def add_linked_image(
    out: LoadedDocument, src: str, caption: str, base_dir: Path, settings: IngestConfig
) -> None:
    """Decode the image ``src`` refers to and add it to ``out``; problems become warnings.

    Remote images (http/https) are not fetched: ingestion never goes to the network.
    """
    src = src.strip()
    if not src:
        return
    try:
        data, origin = _read(src, base_dir, out.source)
    except LoaderError as exc:
        out.warnings.append(str(exc))
        return
    if data is None:
        out.warnings.append(f"{out.source}: remote image not fetched: {src}")
        return
    try:
        decoded = decode_image(data, origin=origin, settings=settings, caption=caption)
    except LoaderError as exc:
        out.warnings.append(str(exc))
        return
    if not isinstance(decoded, ImageRejected) and all(
        im.image_id != decoded.image_id for im in out.images
    ):
        decoded.metadata["link"] = src if not src.startswith("data:") else "data-uri"
        out.images.append(decoded)


def _read(src: str, base_dir: Path, source: str) -> tuple[bytes | None, str]:
    if src.startswith("data:"):
        header, _, payload = src.partition(",")
        if ";base64" not in header:
            raise LoaderError(source, "inline image data URI is not base64")
        try:
            return base64.b64decode(payload, validate=False), f"{source} (inline image)"
        except (binascii.Error, ValueError) as exc:
            raise LoaderError(source, f"inline image is not valid base64 ({exc})") from exc
    parsed = urlparse(src)
    if parsed.scheme in {"http", "https", "ftp"}:
        return None, src
    raw_path = unquote(parsed.path if parsed.scheme == "file" else src.split("#")[0].split("?")[0])
    path = (base_dir / raw_path).resolve()
    if not path.is_file():
        raise LoaderError(source, f"linked image not found: {src}")
    return path.read_bytes(), str(path)
