"""Does the cited context support a generated answer *about what was asked*?

The ``overlap`` check (:func:`mmrag.generate.citations.is_supported`) accepts an answer
whose numbers appear anywhere in the evidence. Small models copy a number from the right
chunk but the wrong row: asked for the user id of ``nobody`` in a passwd file, SmolLM2
says 41 — the id of ``gnats``, two lines up. The claims check therefore asks of every key
claim of the answer (a number, a name, a command-line option, a path) that it appears in
one sentence or table row of the evidence that also holds the question's key terms,
weighted by rarity, as well as the best unit of the evidence does.

Example::

    verdict = check_claims(
        "The user ID of the nobody user is 41.",
        "What is the user ID of the nobody user?",
        ["gnats:x:41:41:Gnats:/var/lib/gnats:/usr/sbin/nologin\\n"
         "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin"],
    )
    assert not verdict.supported   # "41 is not beside nobody"
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mmrag.generate.passages import Unit, coverage, question_terms, rarity, units_of, words

_MARKER = re.compile(r"\[\d+(?:\s*[,;]\s*\d+)*\]")
_OPTION = re.compile(r"(?<![\w-])(--?[A-Za-z][\w-]*)")
_PATHLIKE = re.compile(r"(?<!\w)(/[\w.-]+(?:/[\w.-]+)*|\w+(?:_\w+)+)")
_NAME = re.compile(r"\b[A-Z][\w-]*[a-z0-9][\w-]*\b|\b[A-Z]{2,}\b")
_SENTENCE_START = re.compile(r"(?:^|[.!?:]\s+|\n)\s*[\"'(]?$")

#: A unit supports a claim when its share of the question's term weight reaches this part
#: of the best unit's share: "beside the question's terms", relative to what the evidence
#: offers at best (a table row rarely repeats every word of the question) ...
RELATIVE_ANCHOR = 0.5
#: ... and this share in absolute terms, so that evidence silent on the question's rarest
#: terms supports nothing (one question term in three, when all weigh alike).
MIN_ANCHOR = 0.25
#: At least this share of the words an answer adds beyond the question must be in the
#: evidence: an answer that is mostly invented is not made true by one copied number.
MIN_GROUNDED = 0.5
#: ... for answers that add at least this many words (a share of two words is noise).
MIN_WORDS_FOR_SHARE = 5


@dataclass(frozen=True, slots=True)
class SupportVerdict:
    supported: bool
    #: Why not, in words a user can check (empty when supported).
    reason: str = ""


def key_claims(answer: str, question: str) -> list[str]:
    """Numbers, names, options and paths the answer states that the question does not."""
    text = _MARKER.sub(" ", answer)
    asked = set(words(question)) | {t.lower() for t in _OPTION.findall(question)}
    claims: list[str] = []
    # Whole numbers only: the 3 of "Q3" or "MP3" is part of a name, not a figure.
    for token in re.findall(r"(?<![\w.])(\d[\d,.]*\d|\d)(?!\w)", text):
        token = (
            token.replace(",", "")
            if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", token)
            else token
        )
        if token not in asked and token not in claims:
            claims.append(token)
    for token in _OPTION.findall(text) + _PATHLIKE.findall(text):
        if token.lower() not in asked and token not in claims:
            claims.append(token)
    for match in _NAME.finditer(text):
        if _SENTENCE_START.search(text[: match.start()]):
            continue  # "The", "Yes", "Revenue…" at a sentence start are not names
        parts = words(match.group())
        if parts and not set(parts) <= asked and match.group() not in claims:
            claims.append(match.group())
    return claims


def check_claims(
    answer: str,
    question: str,
    evidence: Sequence[str],
    *,
    context: Sequence[str] | None = None,
    relative: float = RELATIVE_ANCHOR,
    floor: float = MIN_ANCHOR,
) -> SupportVerdict:
    """Accept ``answer`` only when each key claim sits beside the question's key terms.

    ``evidence`` is what the answer cites; ``context`` everything the model saw (default:
    the evidence). A claim's unit must hold the question's terms about as well as the best
    unit of the whole context: a cited row that merely shares "archive" with the question
    does not support "-c" when another item's row says "extract files from an archive".
    """
    units = units_of(evidence)
    if not units:
        return SupportVerdict(False, "no cited context to check it against")
    answer_text = _MARKER.sub(" ", answer)
    added = [w for w in dict.fromkeys(words(answer_text)) if w not in set(words(question))]
    present = set().union(*(u.words for u in units))
    if len(added) >= MIN_WORDS_FOR_SHARE:
        grounded = sum(1 for w in added if w in present) / len(added)
        if grounded < MIN_GROUNDED:
            return SupportVerdict(
                False, f"only {grounded:.0%} of its words appear in the cited sources"
            )
    claims = key_claims(answer_text, question)
    if not claims:
        return SupportVerdict(True)
    seen = units_of(context) if context is not None else units
    weights = rarity(question_terms(question), seen)
    best = max((coverage(u, weights) for u in seen), default=0.0)
    bar = max(floor, relative * best)
    # A question of generic words only ("How many?") has nothing to anchor to.
    anchored = [u for u in units if coverage(u, weights) >= bar > 0] if weights else list(units)
    if not anchored:
        terms = ", ".join(sorted(question_terms(question))) or "the question's terms"
        return SupportVerdict(False, f"the cited sources say little about {terms}")
    for claim in claims:
        if not any(_holds(unit, claim) for unit in anchored):
            where = (
                "in the cited sources"
                if not any(_holds(u, claim) for u in units)
                else ("beside " + _best_terms(weights, seen))
            )
            return SupportVerdict(False, f"'{claim}' does not appear {where}")
    return SupportVerdict(True)


def _holds(unit: Unit, claim: str) -> bool:
    if claim.startswith("-") or "/" in claim or "_" in claim:
        return (
            re.search(rf"(?<![\w-]){re.escape(claim.lower())}(?![\w-])", unit.text.lower())
            is not None
        )
    parts = words(claim) or [claim.lower()]
    return all(p in unit.words for p in parts)


def _best_terms(weights: dict[str, float], units: Sequence[Unit]) -> str:
    """The question's rarest terms that the context does hold."""
    held = [t for t in weights if any(t in u.words for u in units)]
    ranked = sorted(held, key=lambda t: -weights[t])
    return "'" + "', '".join(ranked[:3]) + "'" if ranked else "the question's terms"
