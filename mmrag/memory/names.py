"""Concept names: ``<bo>`` in RAP's notation, ``bo`` in a question; both must match."""

from __future__ import annotations

import re

from mmrag.errors import InvalidNameError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalise(name: str) -> str:
    """The key a concept is stored and matched by: ``"<Bo>"`` -> ``"bo"``."""
    key = " ".join(name.strip().strip("<>").split()).lower()
    if not key or len(key) > 64 or _CONTROL.search(name):
        raise InvalidNameError(f"invalid memory name {name!r}: use 1-64 printable characters")
    return key


def display(name: str) -> str:
    """RAP's notation: ``bo`` -> ``<bo>``."""
    return f"<{normalise(name)}>"


def mentions(text: str, key: str) -> bool:
    """Is the concept named in ``text`` (as ``<bo>``, ``bo`` or ``Bo``, as a whole word)?"""
    pattern = r"(?<![\w-])<?" + re.escape(key) + r">?(?![\w-])"
    return re.search(pattern, text, re.IGNORECASE) is not None
