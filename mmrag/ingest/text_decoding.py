"""Reading text files whose encoding nobody wrote down."""

from __future__ import annotations

import logging
from pathlib import Path

from charset_normalizer import from_bytes

from mmrag.errors import LoaderError

logger = logging.getLogger(__name__)

_MAX_CHAOS = 0.2
_WESTERN = ("cp1252", "latin_1", "iso8859_15")


def read_text(path: Path) -> str:
    """UTF-8 (with or without BOM), else the encoding charset-normalizer is confident in.

    Binary data and text whose encoding cannot be told are refused with a clear error
    rather than ingested as mojibake.
    """
    raw = path.read_bytes()
    if not raw.strip():
        raise LoaderError(path, "file is empty")
    if b"\x00" in raw[:8192] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise LoaderError(path, "looks like binary data, not text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    matches = list(from_bytes(raw))
    if not matches or min(m.chaos for m in matches) > _MAX_CHAOS:
        raise LoaderError(
            path, "not UTF-8 and its text encoding cannot be detected; convert it to UTF-8"
        )
    best = min(matches, key=lambda m: m.chaos)
    # Detectors cannot tell sibling code pages apart on short text (cp1252 vs cp1257 look
    # equally plausible); the Western European one is by far the most common in files.
    western = [m for m in matches if m.encoding in _WESTERN and m.chaos <= best.chaos + 0.1]
    chosen = western[0] if western else best
    logger.warning("%s is not UTF-8; read it as %s", path, chosen.encoding)
    return str(chosen)
