"""Concept names: ``<bo>`` in RAP's notation, ``bo`` in a question; both must match."""

from __future__ import annotations

import re

from mmrag.errors import InvalidNameError

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: What a concept from an imported file may be called: words, spaces, ``. ' -``.
_PLAIN = re.compile(r"[^\W_][\w .'-]{0,63}")


def normalise(name: str) -> str:
    """The key a concept is stored and matched by: ``"<Bo>"`` -> ``"bo"``."""
    key = " ".join(name.strip().strip("<>").split()).lower()
    if not key or len(key) > 64 or _CONTROL.search(name):
        raise InvalidNameError(f"invalid memory name {name!r}: use 1-64 printable characters")
    return key


def plain_name(name: str) -> str:
    """The key of a name that is safe anywhere, file names included; refuses anything else.

    Imported files are not trusted: a concept called ``../../x`` would otherwise become a
    path when the memories are exported. Names typed by the user go through
    :func:`normalise` only; export never uses a key as a path either way.
    """
    key = normalise(name)
    if not _PLAIN.fullmatch(key) or ".." in key:
        raise InvalidNameError(
            f"invalid memory name {name!r}: use letters, digits, spaces and . ' - "
            "(starting with a letter or digit)"
        )
    return key


def display(name: str) -> str:
    """RAP's notation: ``bo`` -> ``<bo>``."""
    return f"<{normalise(name)}>"


def mentions(text: str, key: str) -> bool:
    """Is the concept named in ``text`` (as ``<bo>``, ``bo`` or ``Bo``, as a whole word)?"""
    pattern = r"(?<![\w-])<?" + re.escape(key) + r">?(?![\w-])"
    return re.search(pattern, text, re.IGNORECASE) is not None
