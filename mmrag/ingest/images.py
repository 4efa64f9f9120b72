"""Decoding images safely and preparing the copy kept in the store."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageOps, UnidentifiedImageError

from mmrag.config import IngestConfig
from mmrag.errors import LoaderError
from mmrag.ingest.document import DocImage
from mmrag.schema import content_digest

_LOSSY_FORMATS = {"JPEG", "MPO", "WEBP"}


@dataclass(slots=True)
class ImageRejected:
    """Why an image was left out on purpose (not an error)."""

    reason: str


def decode_image(
    data: bytes, *, origin: str, settings: IngestConfig, page: int | None = None, caption: str = ""
) -> DocImage | ImageRejected:
    """Decode ``data`` into a :class:`DocImage`, or say why it is not worth keeping.

    Raises :class:`LoaderError` naming ``origin`` for data that is not a readable image or
    is larger than ``settings.max_image_pixels``.
    """
    if not data:
        raise LoaderError(origin, "empty image data")
    try:
        with warnings.catch_warnings(), _pillow_pixel_limit(settings.max_image_pixels):
            # Our own limit (ingest.max_image_pixels) is checked below, before decoding.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image: Image.Image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > settings.max_image_pixels:
                raise LoaderError(
                    origin,
                    f"image is {width}x{height} px, more than the limit of "
                    f"{settings.max_image_pixels:,} pixels (ingest.max_image_pixels)",
                )
            if min(width, height) < settings.min_image_side:
                return ImageRejected(f"smaller than {settings.min_image_side} px")
            source_format = image.format or "PNG"
            if source_format == "JPEG":
                # Decode big JPEGs at reduced scale directly: much faster and lighter.
                side = settings.stored_image_max_side
                image.draft("RGB", (side, side))
            image.load()
    except LoaderError:
        raise
    except UnidentifiedImageError as exc:
        raise LoaderError(origin, "not a readable image (unknown or corrupt image format)") from exc
    except Image.DecompressionBombError as exc:
        raise LoaderError(
            origin,
            f"image is larger than {settings.max_image_pixels:,} pixels (ingest.max_image_pixels)",
        ) from exc
    except (OSError, ValueError) as exc:
        raise LoaderError(origin, f"not a readable image ({exc})") from exc
    image = ImageOps.exif_transpose(image) or image
    # Original size as the viewer sees it (EXIF rotation swaps the sides).
    turned = (image.width > image.height) != (width > height)
    original = (height, width) if turned else (width, height)
    image = _to_rgb(image)
    if max(image.size) > settings.stored_image_max_side:
        # Everything downstream (OCR, features, the stored copy) works at this size; a
        # full-resolution copy of every image of a commit group would cost gigabytes.
        image.thumbnail((settings.stored_image_max_side,) * 2, Image.Resampling.LANCZOS)
    stored, fmt = encode_for_store(image, source_format, settings.stored_image_max_side)
    return DocImage(
        image_id=content_digest(data)[:32],
        image=image,
        data=stored,
        format=fmt,
        page=page,
        caption=caption,
        metadata={"width": original[0], "height": original[1]},
    )


@contextmanager
def _pillow_pixel_limit(limit: int) -> Iterator[None]:
    """Let our setting, not Pillow's fixed bomb limit (~179 MP), decide what is too big."""
    previous = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = max(previous or 0, limit)
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = previous


def encode_for_store(image: Image.Image, source_format: str, max_side: int) -> tuple[bytes, str]:
    """Downscale to ``max_side`` and encode: JPEG for photos, PNG for everything else."""
    copy = image
    if max(image.size) > max_side:
        copy = image.copy()
        copy.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    if source_format in _LOSSY_FORMATS:
        copy.save(buf, format="JPEG", quality=88, optimize=True)
        return buf.getvalue(), "jpeg"
    copy.save(buf, format="PNG", optimize=False)
    return buf.getvalue(), "png"


def _to_rgb(image: Image.Image) -> Image.Image:
    """RGB with transparent areas on white (charts with alpha would otherwise turn black)."""
    if image.mode == "RGB":
        return image
    if image.mode in {"RGBA", "LA", "P", "PA"}:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def open_query_image(
    source: str | bytes | Image.Image, *, max_pixels: int = 150_000_000
) -> Image.Image:
    """A query image from a path, raw bytes or a PIL image, as RGB; clear errors otherwise."""
    if isinstance(source, Image.Image):
        return _to_rgb(source)
    origin = "query image" if isinstance(source, bytes) else str(source)
    try:
        data = source if isinstance(source, bytes) else Path(source).read_bytes()
    except OSError as exc:
        raise LoaderError(origin, f"cannot read query image ({exc.strerror or exc})") from exc
    settings = IngestConfig(min_image_side=1, max_image_pixels=max_pixels)
    decoded = decode_image(data, origin=origin, settings=settings)
    assert not isinstance(decoded, ImageRejected)
    return decoded.image
