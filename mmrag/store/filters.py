"""SQL filter fragments for LanceDB that user input cannot break out of.

User namespaces are validated against a strict pattern, and every string that reaches a
filter goes through :func:`sql_str`, which doubles quotes (the SQL escaping DataFusion
uses). Column names are never taken from input.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from mmrag.errors import InvalidNameError
from mmrag.schema import SHARED_USER

_USER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}")


def validate_user(user: str | None) -> str:
    """Return the namespace for ``user``; ``None`` or ``""`` is the shared corpus."""
    if user is None or user == SHARED_USER:
        return SHARED_USER
    if not _USER_NAME.fullmatch(user):
        raise InvalidNameError(
            f"invalid user name {user!r}: use 1-64 letters, digits or . _ @ + - "
            "(starting with a letter or digit)"
        )
    return user


def sql_str(value: str) -> str:
    """A SQL string literal holding exactly ``value``."""
    if "\x00" in value:
        raise InvalidNameError("text with NUL characters cannot be used in a filter")
    return "'" + value.replace("'", "''") + "'"


def in_list(column: str, values: Iterable[str]) -> str:
    items = [sql_str(v) for v in values]
    if not items:
        return "FALSE"
    return f"{column} IN ({', '.join(items)})"


def read_scope(user: str | None) -> str:
    """Rows a user may read: the shared corpus plus their own, nothing else."""
    ns = validate_user(user)
    if ns == SHARED_USER:
        return f"user = {sql_str(SHARED_USER)}"
    return in_list("user", [SHARED_USER, ns])


def write_scope(user: str | None) -> str:
    """Rows a user may change: only their own namespace (or only the shared one)."""
    return f"user = {sql_str(validate_user(user))}"


def all_of(*clauses: str | None) -> str:
    parts = [f"({c})" for c in clauses if c]
    return " AND ".join(parts) if parts else "TRUE"


def glob_to_like(pattern: str) -> str:
    """A SQL LIKE pattern (escape character ``\\``) matching what the glob matches."""
    out = []
    for ch in pattern:
        if ch in "%_\\":
            out.append("\\" + ch)
        elif ch == "*":
            out.append("%")
        elif ch == "?":
            out.append("_")
        else:
            out.append(ch)
    return "".join(out)


def source_filter(patterns: Iterable[str]) -> str | None:
    """Rows whose source matches any pattern, or lies in a folder that one matches.

    A pattern is an absolute path or glob (``/data/*.pdf``), or a path tail matched at a
    folder boundary: ``report.pdf`` or ``papers/*.pdf`` match ``/any/where/papers/x.pdf``,
    and a plain path (``papers``, ``where/papers/``) also every file under the folder it
    names. Sources are stored as resolved absolute paths, so a pattern starting with
    ``./`` or ``../`` is taken relative to the working directory, as a shell would.
    """
    clauses = []
    for pattern in patterns:
        if pattern in (".", "..") or pattern.startswith(("./", "../")):
            pattern = str(Path(pattern).resolve())  # as ingest resolved the sources
        if len(pattern) > 1:
            pattern = pattern.rstrip("/")  # "papers/" names the folder
        like = glob_to_like(pattern)
        if not pattern.startswith(("/", "*")) and "://" not in pattern:
            like = "%/" + like
        likes = [like]
        if not any(ch in pattern for ch in "*?"):
            # A plain path may name a folder (a glob's "*" already reaches into folders).
            likes.append(like.rstrip("/") + "/%")
        clauses += [f"source LIKE {sql_str(each)} ESCAPE '\\'" for each in likes]
    return " OR ".join(clauses) if clauses else None
