"""Reading the images that Markdown and HTML documents link to, within the read scope.

A link is data the document's author chose, not the user: ``![](/etc/passwd)``,
``![](../../../home/me/.ssh/id_rsa)`` or ``file:///proc/self/environ`` must not get a
file read and stored in a corpus others search. So every local link is resolved
(symlinks included) and checked against the run's :class:`ReadScope` *before* it is
opened; it must be a regular file no bigger than ``ingest.max_linked_file_mb``. Remote
images (http/https/ftp and any other URL scheme) are never fetched. Every refusal is a
warning naming the document, the link and the reason; the document's text is kept.
"""

from __future__ import annotations

import base64
import binascii
import os
from pathlib import Path
from urllib.parse import unquote, urlparse

from mmrag.config import IngestConfig
from mmrag.errors import LoaderError
from mmrag.ingest.document import ImageLink, LoadedDocument
from mmrag.ingest.images import ImageRejected, decode_image
from mmrag.ingest.scope import ReadScope, read_regular

_REMOTE_SCHEMES = {"http", "https", "ftp", "ftps", "sftp", "s3", "gs"}


def add_linked_images(doc: LoadedDocument, scope: ReadScope, settings: IngestConfig) -> None:
    """Decode every image ``doc`` links to and add it to ``doc``; problems become warnings."""
    limit = int(settings.max_linked_file_mb * 1_000_000)
    for link in doc.links:
        src = link.src.strip()
        if not src:
            continue
        try:
            data, origin = _read(link, src, scope, doc.source, limit)
            decoded = decode_image(data, origin=origin, settings=settings, caption=link.caption)
        except LoaderError as exc:
            doc.warnings.append(str(exc))
            continue
        if not isinstance(decoded, ImageRejected) and all(
            im.image_id != decoded.image_id for im in doc.images
        ):
            decoded.metadata["link"] = src if not src.startswith("data:") else "data-uri"
            doc.images.append(decoded)


def _read(
    link: ImageLink, src: str, scope: ReadScope, source: str, limit: int
) -> tuple[bytes, str]:
    if src.startswith("data:"):
        return _data_uri(src, source, limit), f"{source} (inline image)"
    parsed = urlparse(src)
    scheme = parsed.scheme.lower()
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise LoaderError(source, f"linked image on another host not read: {src}")
        raw = unquote(parsed.path)
    elif scheme in _REMOTE_SCHEMES:
        raise LoaderError(source, f"remote image not fetched: {src}")
    elif len(scheme) > 1:  # a one-letter "scheme" is a Windows drive: a local path
        raise LoaderError(source, f"image link with scheme '{scheme}:' not followed: {src}")
    else:
        raw = unquote(src.split("#")[0].split("?")[0])
    target = Path(os.path.realpath(link.base_dir / raw))
    if not scope.contains(target):
        raise LoaderError(
            source,
            f"linked image outside the folders being ingested, not read: {src} "
            f"(resolves to {target}; allow it with --allow-links-outside)",
        )
    if not target.exists():
        raise LoaderError(source, f"linked image not found: {src}")
    try:
        return read_regular(target, limit, what="linked image"), str(target)
    except LoaderError as exc:
        raise LoaderError(source, f"{exc.reason}, not read: {src}") from exc


def _data_uri(src: str, source: str, limit: int) -> bytes:
    header, _, payload = src.partition(",")
    if ";base64" not in header:
        raise LoaderError(source, "inline image data URI is not base64")
    if len(payload) > limit * 4 // 3 + 4:
        raise LoaderError(source, f"inline image is over the {limit / 1e6:.1f} MB limit")
    try:
        return base64.b64decode(payload, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise LoaderError(source, f"inline image is not valid base64 ({exc})") from exc
