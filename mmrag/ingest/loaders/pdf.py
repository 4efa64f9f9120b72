"""PDF loader (PyMuPDF): page text, embedded images, and scanned pages rendered for OCR."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pymupdf as _pymupdf
from PIL import Image

from mmrag.config import IngestConfig
from mmrag.errors import LoaderError
from mmrag.ingest.document import DocImage, LoadedDocument, PageScan, TextBlock
from mmrag.ingest.images import ImageRejected, decode_image
from mmrag.ingest.loaders.base import register_loader

# PyMuPDF's bindings are untyped; treat them as Any rather than sprinkle ignores.
pymupdf: Any = _pymupdf

logger = logging.getLogger(__name__)

#: PyMuPDF's defaults minus ligature preservation: "ﬁ" must read as "fi" for search.
_TEXT_FLAGS = pymupdf.TEXTFLAGS_TEXT & ~pymupdf.TEXT_PRESERVE_LIGATURES
#: Rendered scans are capped at this many pixels on the longest side (OCR reads no more).
_MAX_RENDER_SIDE = 2000
#: An image covering this share of a scanned page *is* the scan, already OCR'd as a page.
_PAGE_COVER_RATIO = 0.5


class PdfLoader:
    extensions: tuple[str, ...] = (".pdf",)

    def load(self, path: Path, settings: IngestConfig) -> LoadedDocument:
        doc = _open(path, settings)
        try:
            out = LoadedDocument(source=str(path), pages=doc.page_count, metadata=_doc_meta(doc))
            seen_xrefs: set[int] = set()
            seen_digests: set[str] = set()
            for page in doc:
                number = page.number + 1
                text = page.get_text("text", flags=_TEXT_FLAGS)
                if text.strip():
                    out.blocks.append(TextBlock(text=text, page=number))
                is_scan = len(text.strip()) < settings.scan_text_chars and _has_visuals(page)
                if is_scan:
                    out.scans.append(
                        PageScan(page=number, image=_render(page, settings.render_dpi))
                    )
                for image in _page_images(doc, page, seen_xrefs, settings, out, is_scan):
                    if image.image_id not in seen_digests:
                        seen_digests.add(image.image_id)
                        out.images.append(image)
            return out
        except LoaderError:
            raise
        except Exception as exc:  # PyMuPDF raises plain RuntimeErrors on damaged content
            raise LoaderError(path, f"damaged PDF ({exc})") from exc
        finally:
            doc.close()


def _open(path: Path, settings: IngestConfig) -> Any:
    if path.stat().st_size == 0:
        raise LoaderError(path, "file is empty")
    try:
        doc = pymupdf.open(path, filetype="pdf")
    except Exception as exc:
        # PyMuPDF's message repeats the path; keep only its reason.
        reason = str(exc).replace(str(path), "").strip(" :'\"") or type(exc).__name__
        raise LoaderError(path, f"not a readable PDF ({reason})") from exc
    if doc.is_repaired and not settings.accept_repaired_pdfs:
        doc.close()
        raise LoaderError(
            path,
            "damaged PDF (truncated or broken structure; content may be missing). Re-export "
            "or repair it (e.g. qpdf in.pdf out.pdf), or set ingest.accept_repaired_pdfs",
        )
    if doc.needs_pass and not doc.authenticate(""):
        doc.close()
        raise LoaderError(
            path, "encrypted PDF: it needs a password; decrypt it first (e.g. qpdf --decrypt)"
        )
    if doc.page_count == 0:
        doc.close()
        raise LoaderError(path, "PDF has no pages")
    return doc


def _doc_meta(doc: Any) -> dict[str, Any]:
    meta = doc.metadata or {}
    return {k: v for k, v in meta.items() if k in {"title", "author", "subject"} and v}


def _has_visuals(page: Any) -> bool:
    return bool(page.get_images()) or bool(page.get_drawings())


def _render(page: Any, dpi: int) -> Image.Image:
    longest_pt = max(page.rect.width, page.rect.height) or 1.0
    dpi = min(dpi, int(_MAX_RENDER_SIDE * 72 / longest_pt))
    pix = page.get_pixmap(dpi=max(dpi, 36), alpha=False)
    return Image.frombytes("RGB", (pix.width, pix.height), pix.samples)


def _page_images(
    doc: Any,
    page: Any,
    seen_xrefs: set[int],
    settings: IngestConfig,
    out: LoadedDocument,
    is_scan: bool,
) -> list[DocImage]:
    found = []
    page_area = abs(page.rect) or 1.0
    for info in page.get_images(full=True):
        xref, width, height = info[0], info[2], info[3]
        if xref in seen_xrefs:
            continue
        seen_xrefs.add(xref)
        if min(width, height) < settings.min_image_side:
            continue
        origin = f"{out.source} p.{page.number + 1} image {xref}"
        try:
            data = _image_bytes(doc, xref)
            decoded = decode_image(data, origin=origin, settings=settings, page=page.number + 1)
        except LoaderError as exc:
            out.warnings.append(str(exc))
            continue
        if isinstance(decoded, ImageRejected):
            continue
        if is_scan:
            covered = sum(abs(r) for r in page.get_image_rects(xref)) / page_area
            decoded.skip_ocr = covered >= _PAGE_COVER_RATIO
        found.append(decoded)
    return found


def _image_bytes(doc: Any, xref: int) -> bytes:
    """The image as stored in the PDF, re-encoded to PNG when Pillow cannot read it."""
    extracted = doc.extract_image(xref)
    if extracted and extracted.get("ext") in {"png", "jpeg", "jpg", "bmp", "tiff", "gif"}:
        return bytes(extracted["image"])
    pix = pymupdf.Pixmap(doc, xref)
    if pix.n - pix.alpha >= 4:  # CMYK and other exotic colour spaces
        pix = pymupdf.Pixmap(pymupdf.csRGB, pix)
    return bytes(pix.tobytes("png"))


register_loader(PdfLoader())
