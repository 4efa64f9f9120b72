"""Telling a file's real format from its first bytes, before a loader trusts its name.

A PNG renamed ``.pdf`` used to be "ingested" with 0 nodes and no word said; a PDF renamed
``.txt`` could be indexed as gibberish. Only a positive match on a well-known signature
refuses a file: content nobody recognises is left to the loader, whose own errors are
more precise than a guess.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Bytes read from the start of a file to tell its format.
HEAD_BYTES = 1024


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    #: ``document``, ``image``, ``archive``, ``program`` or ``compressed``.
    family: str
    #: The extension to suggest when the file is misnamed.
    extension: str


_PDF = Format("a PDF document", "document", ".pdf")
_PNG = Format("a PNG image", "image", ".png")
_JPEG = Format("a JPEG image", "image", ".jpg")
_GIF = Format("a GIF image", "image", ".gif")
_WEBP = Format("a WebP image", "image", ".webp")
_TIFF = Format("a TIFF image", "image", ".tif")
_ZIP = Format("a ZIP archive (or a docx/pptx/epub)", "archive", ".zip")
_GZIP = Format("gzip-compressed data", "compressed", ".gz")
_SEVENZ = Format("a 7-Zip archive", "archive", ".7z")
_ELF = Format("a Linux program (ELF)", "program", "")
_EXE = Format("a Windows program", "program", ".exe")

_SIGNATURES: list[tuple[bytes, Format]] = [
    (b"\x89PNG\r\n\x1a\n", _PNG),
    (b"\xff\xd8\xff", _JPEG),
    (b"GIF87a", _GIF),
    (b"GIF89a", _GIF),
    (b"II*\x00", _TIFF),
    (b"MM\x00*", _TIFF),
    (b"PK\x03\x04", _ZIP),
    (b"PK\x05\x06", _ZIP),
    (b"\x1f\x8b", _GZIP),
    (b"7z\xbc\xaf\x27\x1c", _SEVENZ),
    (b"\x7fELF", _ELF),
    (b"MZ\x90\x00", _EXE),
]

_IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"}
_TEXT_EXTENSIONS = {
    ".txt", ".text", ".rst", ".log", ".md", ".markdown", ".mdx", ".html", ".htm", ".xhtml",
}  # fmt: skip
_ZIP_EXTENSIONS = {".docx", ".pptx", ".xlsx", ".epub", ".odt"}


def identify(head: bytes) -> Format | None:
    """The format ``head`` (a file's first bytes) is recognisably in, else None."""
    for signature, fmt in _SIGNATURES:
        if head.startswith(signature):
            return fmt
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _WEBP
    if head.startswith(b"%PDF-"):
        return _PDF
    return None


def mismatch(extension: str, head: bytes) -> str | None:
    """Why content ``head`` cannot be what ``extension`` says, or None when it can be.

    Images may carry any image extension (Pillow reads a PNG named ``.jpg`` fine), so only
    a change of family is refused.
    """
    ext = extension.lower()
    if ext == ".pdf" and b"%PDF-" in head[:HEAD_BYTES]:
        return None  # readers accept a PDF header after a little junk; so do we
    fmt = identify(head)
    if fmt is None:
        return None
    if ext == ".pdf":
        expected = "a PDF"
        ok = fmt is _PDF
    elif ext in _IMAGE_EXTENSIONS:
        expected = "an image"
        ok = fmt.family == "image"
    elif ext in _ZIP_EXTENSIONS:
        expected = f"a {ext[1:]} file"
        ok = fmt is _ZIP
    elif ext in _TEXT_EXTENSIONS:
        expected = "text"
        ok = False  # every signature above is binary
    else:
        return None
    if ok:
        return None
    hint = f"; rename it to {fmt.extension}" if fmt.extension else ""
    what = f"binary content, {fmt.name}" if expected == "text" else f"content is {fmt.name}"
    return f"{what}, not {expected} (wrong file extension{hint})"
