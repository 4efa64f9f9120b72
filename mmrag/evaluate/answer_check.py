"""Deterministic answer checks where the gold allows one (as MMLongBench scores).

Two rules, because an answer and a quote are different things:

- :func:`check_answer` scores a *short answer* (what a generator writes) by exact match:
  strings compared normalised (case, punctuation, articles), lists as sets of normalised
  items, numbers with a relative tolerance (percent signs and thousands separators
  ignored). Every number the answer states beyond the question's own must be the gold
  one: "41 or 65534" is not right for 65534, so an answer gains nothing from listing many.
- :func:`quote_contains_gold` scores an *extractive* answer (quoted passages) on its own
  terms: does the quote contain the gold, as a whole word or number.

"Not answerable" gold is matched by a refusal. Free-form gold that none of these fit is
not checked (None), rather than guessed.
"""

from __future__ import annotations

import ast
import re

_ARTICLES = re.compile(r"\b(a|an|the)\b")
#: A number stands on its own: the "5" inside "c4e5df9.pdf" or "Q3" is not one.
_NUMBER = re.compile(r"(?<![A-Za-z0-9_])-?\d+(?:,\d{3})*(?:\.\d+)?(?![A-Za-z0-9_])")
#: Quoted passages: one per line, closed by the last quote mark before its source
#: "(file, page) [n]" (the passage itself may hold quote marks), else any quotes.
_QUOTED = (
    re.compile(r"[“\"](.*)[”\"]\s*[(\[]"),
    re.compile(r"“([^”]*)”"),
    re.compile(r'"([^"]*)"'),
)
#: Citation markers such as "[2]" are references, not numbers the answer states.
_CITATION = re.compile(r"\[\d+(?:\s*,\s*\d+)*\]")
#: Formats whose gold is one string or one number: the quote rule's target questions.
SINGLE_VALUE_FORMATS = frozenset({"str", "int", "float"})


def normalise(text: str) -> str:
    text = _ARTICLES.sub(" ", text.lower())
    return " ".join(re.sub(r"[^\w\s%.]", " ", text).replace(" .", " ").split()).strip(" .")


def numbers(text: str) -> list[float]:
    return [float(m.replace(",", "")) for m in _NUMBER.findall(_CITATION.sub(" ", text))]


def is_unanswerable_gold(gold: str | None) -> bool:
    return gold is not None and gold.strip().lower() == "not answerable"


def gold_kind(gold: str | None, answer_format: str | None = None) -> str | None:
    """``"list"``, ``"number"``, ``"string"``, or None when the gold cannot be checked."""
    if gold is None or is_unanswerable_gold(gold):
        return None
    fmt = (answer_format or "").lower()
    if _as_list(gold) is not None or fmt == "list":
        return "list"
    if fmt in {"int", "float"} or (fmt in {"", "none"} and _is_number(gold)):
        return "number" if numbers(gold) else None
    return "string" if normalise(gold) else None


def check_answer(
    answer: str,
    *,
    answerable: bool,
    gold: str | None,
    answer_format: str | None = None,
    question: str = "",
) -> bool | None:
    """Is the short answer ``answer`` right by the gold (None: the gold cannot be checked).

    ``question`` lets numbers the question itself states ("in 2015, how many…") pass
    without counting as the answer's claims.
    """
    if gold is None:
        return None
    if is_unanswerable_gold(gold):
        return not answerable
    if not answerable:
        return False
    kind = gold_kind(gold, answer_format)
    if kind == "list":
        return all(w in normalise(answer) for w in _wanted(gold))
    if kind == "number":
        target = numbers(gold)[0]
        asked = numbers(question)
        stated = [
            n for n in numbers(answer) if _close(target, n) or not any(_close(q, n) for q in asked)
        ]
        # Exact match: the answer states the gold number and no other.
        return bool(stated) and all(_close(target, n) for n in stated)
    if kind == "string":
        g, a = normalise(gold), normalise(answer)
        return g == a or (len(g.split()) <= 6 and _contains_phrase(a, g))
    return None


def quote_contains_gold(
    quote: str, *, gold: str | None, answer_format: str | None = None
) -> bool | None:
    """Does the quoted passage contain the gold answer (None: no gold to look for)?

    Only the text inside quotes counts when there are quotes. A number must appear as a
    number ("41" is not in "4100"), a string as whole words.
    """
    kind = gold_kind(gold, answer_format)
    if kind is None or gold is None:
        return None
    quote = quoted_text(quote)
    if kind == "number":
        target = numbers(gold)[0]
        return any(_close(target, n) for n in numbers(quote))
    text = normalise(quote)
    wanted = _wanted(gold) if kind == "list" else {normalise(gold)}
    return all(_contains_phrase(text, w) for w in wanted)


def quoted_text(answer: str) -> str:
    """The quoted passages of an answer, without the sources and pages cited beside them
    (a file name or page number must not count as containing the gold)."""
    for pattern in _QUOTED:
        passages = pattern.findall(answer)
        if passages:
            return "\n".join(passages)
    return _CITATION.sub(" ", answer)


def _wanted(gold: str) -> set[str]:
    return {normalise(i) for i in (_as_list(gold) or [gold])}


def _contains_phrase(text: str, phrase: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def _is_number(gold: str) -> bool:
    return _NUMBER.fullmatch(gold.strip().rstrip("%").strip()) is not None


def _close(a: float, b: float) -> bool:
    if abs(a - b) <= max(1e-6, 0.01 * abs(a)):
        return True
    # A share written as a fraction or as a percentage (0.723 vs 72.3%); only a fraction
    # can be one, or 41 would match 4100.
    if min(abs(a), abs(b)) > 1:
        return False
    return abs(a * 100 - b) < 1e-6 or abs(a - b * 100) < 1e-6


def _as_list(gold: str) -> list[str] | None:
    text = gold.strip()
    if not (text.startswith("[") and text.endswith("]")):
        return None
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    return [str(v) for v in value] if isinstance(value, list | tuple) else None
