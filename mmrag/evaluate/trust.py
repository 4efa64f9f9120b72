"""Can a user trust what a pipeline says? One verdict per question, and their tally.

Accuracy alone hides the failure that hurts a user most: an answer given with confidence
and wrong. So each answered or refused question gets one outcome —

- ``right``: answered, and the check says right;
- ``confidently_wrong``: answered, and the check says wrong (an answer to a question the
  gold marks "Not answerable" is one too);
- ``unchecked``: answered, but the gold has no deterministic check (free-form gold);
- ``refused_answerable`` / ``refused_unanswerable``: refused, when the gold has an answer
  or does not.

Which check decides depends on what the answer is (see :mod:`.answer_check`): an
extractive answer (quoted passages) by whether the quote contains the gold, a generated
short answer by exact match. Each verdict names its rule so a report can say which
scored a pipeline; an extractive quote is never scored as if it were a short answer.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from mmrag.evaluate.answer_check import (
    SINGLE_VALUE_FORMATS,
    check_answer,
    gold_kind,
    is_unanswerable_gold,
    quote_contains_gold,
)
from mmrag.evaluate.metrics import mean, with_ci

if TYPE_CHECKING:
    from mmrag.config import PipelineConfig
    from mmrag.schema import Answer


class Outcome(StrEnum):
    RIGHT = "right"
    CONFIDENTLY_WRONG = "confidently_wrong"
    UNCHECKED = "unchecked"
    REFUSED_ANSWERABLE = "refused_answerable"
    REFUSED_UNANSWERABLE = "refused_unanswerable"


class Rule(StrEnum):
    EXACT = "exact-match"
    QUOTE = "quote-contains-gold"


@dataclass(frozen=True, slots=True)
class TrustVerdict:
    outcome: Outcome
    rule: Rule
    #: Extractive answers with a string or number gold: does the quote hold the gold?
    #: False for a refusal of such a question by an extractive pipeline; None otherwise.
    quote_contains_gold: bool | None = None
    #: The gold is one string or one number (the quote metric's target questions).
    single_value_gold: bool = False
    #: False when the gold says "Not answerable".
    answerable_gold: bool = True

    @property
    def correct(self) -> bool | None:
        """The check's verdict in :func:`check_answer`'s terms (refusals included)."""
        if self.outcome == Outcome.UNCHECKED:
            return None
        return self.outcome in (Outcome.RIGHT, Outcome.REFUSED_UNANSWERABLE)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict(
    answer: str,
    *,
    answered: bool,
    extractive: bool,
    gold: str | None,
    answer_format: str | None = None,
    question: str = "",
) -> TrustVerdict:
    """The trust outcome of one answer (``answered=False`` for a refusal).

    ``extractive`` says what the pipeline produces: quotes are scored by containment
    even when this particular question was refused (as not containing the gold).
    """
    rule = Rule.QUOTE if extractive else Rule.EXACT
    unanswerable = is_unanswerable_gold(gold)
    single = not unanswerable and _single_value(gold, answer_format)
    quoted: bool | None = None
    if extractive and single:
        found = answered and quote_contains_gold(answer, gold=gold, answer_format=answer_format)
        quoted = bool(found)

    def made(outcome: Outcome) -> TrustVerdict:
        return TrustVerdict(outcome, rule, quoted, single, not unanswerable)

    if not answered:
        return made(Outcome.REFUSED_UNANSWERABLE if unanswerable else Outcome.REFUSED_ANSWERABLE)
    if unanswerable:
        return made(Outcome.CONFIDENTLY_WRONG)
    if extractive:
        right = quote_contains_gold(answer, gold=gold, answer_format=answer_format)
    else:
        right = check_answer(
            answer, answerable=True, gold=gold, answer_format=answer_format, question=question
        )
    if right is None:
        return made(Outcome.UNCHECKED)
    return made(Outcome.RIGHT if right else Outcome.CONFIDENTLY_WRONG)


def is_extractive(config: PipelineConfig, answer: Answer) -> bool:
    """Is this a quote (scored by containment) rather than a generated short answer?

    A refusal carries no text to tell by, so the pipeline's answerer decides for it."""
    if answer.answerable:
        return bool(getattr(answer, "extractive", False))
    return getattr(config.generation, "answerer", "generate") == "extractive"


def _single_value(gold: str | None, answer_format: str | None) -> bool:
    if answer_format and answer_format.lower() not in {"none", ""}:
        return answer_format.lower() in SINGLE_VALUE_FORMATS
    return gold_kind(gold, answer_format) in {"number", "string"}


def tally(verdicts: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """Counts and rates of trust outcomes over one pipeline's questions (dicts as recorded).

    Rates name their denominator: confidently wrong and right are shares of the answers
    given; each kind of refusal a share of the questions of its kind.
    """
    if not verdicts:
        return None
    outcomes = Counter(v["outcome"] for v in verdicts)
    answered = [v for v in verdicts if not v["outcome"].startswith("refused")]
    answerable = [v for v in verdicts if v["answerable_gold"]]
    unanswerable = [v for v in verdicts if not v["answerable_gold"]]
    targets = [v for v in verdicts if v.get("quote_contains_gold") is not None]
    out: dict[str, Any] = {
        "rules": dict(Counter(v["rule"] for v in verdicts)),
        "questions": len(verdicts),
        "answered": len(answered),
        **{o.value: outcomes.get(o.value, 0) for o in Outcome},
        "answerable": len(answerable),
        "unanswerable": len(unanswerable),
        "confidently_wrong_of_answered": _rate(
            [float(v["outcome"] == Outcome.CONFIDENTLY_WRONG) for v in answered]
        ),
        "right_of_answered": _rate([float(v["outcome"] == Outcome.RIGHT) for v in answered]),
        "refused_of_answerable": _rate(
            [float(v["outcome"] == Outcome.REFUSED_ANSWERABLE) for v in answerable]
        ),
        "refused_of_unanswerable": _rate(
            [float(v["outcome"] == Outcome.REFUSED_UNANSWERABLE) for v in unanswerable]
        ),
        "quote_contains_gold": _rate([float(v["quote_contains_gold"]) for v in targets]),
    }
    # Containment is only as strict as the quote is short: show how long answers are.
    words = [float(v["words"]) for v in answered if "words" in v]
    if words:
        out["words_per_answer"] = round(mean(words), 1)
    return out


def _rate(values: Sequence[float]) -> dict[str, float | int] | None:
    return with_ci(values) if values else None
