"""A deterministic answer check where the gold allows one (as MMLongBench scores).

Strings are compared normalised (case, punctuation, articles), numbers with a relative
tolerance (percent signs and thousands separators ignored), lists as sets of normalised
items; "Not answerable" gold is matched by a refusal. Free-form gold that none of these
fit is not checked (None), rather than guessed.
"""

from __future__ import annotations

import ast
import re

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_NUMBER = re.compile(r"-?\d+(?:,\d{3})*(?:\.\d+)?")


def normalise(text: str) -> str:
    text = _ARTICLES.sub(" ", text.lower())
    return " ".join(re.sub(r"[^\w\s%.]", " ", text).replace(" .", " ").split()).strip(" .")


def numbers(text: str) -> list[float]:
    return [float(m.replace(",", "")) for m in _NUMBER.findall(text)]


def check_answer(
    answer: str, *, answerable: bool, gold: str | None, answer_format: str | None = None
) -> bool | None:
    """Is ``answer`` right by the gold, or None when the gold cannot be checked this way."""
    if gold is None:
        return None
    if gold.strip().lower() == "not answerable":
        return not answerable
    if not answerable:
        return False
    fmt = (answer_format or "").lower()
    items = _as_list(gold)
    if items is not None or fmt == "list":
        wanted = {normalise(i) for i in (items or [gold])}
        got = normalise(answer)
        return all(w in got for w in wanted)
    if fmt in {"int", "float"} or (fmt == "" and _NUMBER.fullmatch(gold.strip().rstrip("%"))):
        target = numbers(gold)
        found = numbers(answer)
        if not target:
            return None
        return any(_close(target[0], f) for f in found)
    g, a = normalise(gold), normalise(answer)
    if not g:
        return None
    return g == a or (len(g.split()) <= 6 and re.search(rf"\b{re.escape(g)}\b", a) is not None)


def _close(a: float, b: float) -> bool:
    return (
        abs(a - b) <= max(1e-6, 0.01 * abs(a)) or abs(a * 100 - b) < 1e-6 or abs(a - b * 100) < 1e-6
    )


def _as_list(gold: str) -> list[str] | None:
    text = gold.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return [str(v) for v in value] if isinstance(value, list | tuple) else None
