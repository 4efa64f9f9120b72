"""The trust metric: which rule scores an answer, and how outcomes are tallied."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from mmrag.evaluate.answer_check import check_answer, quote_contains_gold
from mmrag.evaluate.summary import summarize
from mmrag.evaluate.trust import Outcome, Rule, is_extractive, tally, verdict

# -- the two rules ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("answer", "gold", "fmt", "question", "expected"),
    [
        # Listing many numbers must not make an answer right.
        ("The user ID of the nobody user is 41 or 65534.", "65534", "Int", "", False),
        ("IDs: 1, 2, 3, 41, 100, 65534", "65534", "Int", "", False),
        ("The user ID of the nobody user is 65534 [2].", "65534", "Int", "", True),
        # Numbers the question states are not the answer's claims.
        ("In 2015, 45% said so.", "45%", "Float", "In 2015, what share said so?", True),
        ("In 2015, 45% said so.", "45%", "Float", "What share said so?", False),
        # ...unless the gold is one of them.
        ("There were 5.", "5", "Int", "Of the 5 sites, how many were open?", True),
        ("It rose to 0.723", "72.3%", "Float", "", True),
    ],
)
def test_exact_match_for_short_answers(
    answer: str, gold: str, fmt: str, question: str, expected: bool
) -> None:
    assert (
        check_answer(answer, answerable=True, gold=gold, answer_format=fmt, question=question)
        is expected
    )


@pytest.mark.parametrize(
    ("quote", "gold", "fmt", "expected"),
    [
        ('"nobody:x:65534:65534:nobody:/nonexistent" [1]', "65534", "Int", True),
        ('"gnats:x:41:41:Gnats Bug-Reporting System" [1]', "65534", "Int", False),
        ('"uid 4100 is reserved" [1]', "41", "Int", False),  # a number, not a substring
        ('"The share rose to 72.3% in 2016." [2]', "0.723", "Float", True),
        ('"Opening hours: Monday to Friday" [1]', "Monday", "Str", True),
        ('"Mondays excepted" [1]', "Monday", "Str", False),  # whole words only
        ('"We met Corgi and a Shiba Inu." [1]', "['Corgi', 'Shiba Inu']", "List", True),
        # Sources and pages printed beside a quote are not part of it.
        (
            "“Use Custom Charts to create pie charts” (8dfc21e5df9.pdf, page 18) [1]",
            "5",
            "Int",
            False,
        ),
        ("“Use Custom Charts to create pie charts” (report.pdf, page 18) [1]", "18", "Int", False),
        ("“It covers 538 square miles” (698bba5.pdf, page 11) [1]", "538", "Int", True),
        # A passage that holds quote marks itself (PDF text) is read to its source.
        ("“”18 Hamilton County covers 538 square miles” (a.pdf, page 11) [1]", "538", "Int", True),
        ("“first” (a.pdf, page 1) [1]\n“then 538 miles” (b.pdf, page 2) [2]", "538", "Int", True),
        ("anything", "Not answerable", "None", None),
        ("anything", None, None, None),
    ],
)
def test_quote_contains_gold(quote: str, gold: str | None, fmt: str | None, expected: bool) -> None:
    assert quote_contains_gold(quote, gold=gold, answer_format=fmt) is expected


# -- verdicts -----------------------------------------------------------------------------

NOISY_QUOTE = '"Table 3: 12, 41, 17, 65534, 90 and 3 users" [1]'


def test_a_quote_is_scored_by_containment_and_a_short_answer_by_exact_match() -> None:
    quote = verdict(NOISY_QUOTE, answered=True, extractive=True, gold="65534", answer_format="Int")
    assert (quote.outcome, quote.rule, quote.quote_contains_gold) == (
        Outcome.RIGHT,
        Rule.QUOTE,
        True,
    )
    # The same text as a generated answer states five wrong numbers: confidently wrong.
    short = verdict(NOISY_QUOTE, answered=True, extractive=False, gold="65534", answer_format="Int")
    assert (short.outcome, short.rule, short.quote_contains_gold) == (
        Outcome.CONFIDENTLY_WRONG,
        Rule.EXACT,
        None,
    )


@pytest.mark.parametrize(
    ("answered", "extractive", "gold", "outcome", "quoted", "correct"),
    [
        (False, False, "65534", Outcome.REFUSED_ANSWERABLE, None, False),
        (False, True, "65534", Outcome.REFUSED_ANSWERABLE, False, False),
        (False, True, "Not answerable", Outcome.REFUSED_UNANSWERABLE, None, True),
        (True, False, "Not answerable", Outcome.CONFIDENTLY_WRONG, None, False),
        (
            True,
            False,
            "a long free-form explanation of the whole figure",
            Outcome.CONFIDENTLY_WRONG,
            None,
            False,
        ),
        (True, False, None, Outcome.UNCHECKED, None, None),
    ],
)
def test_refusals_and_unanswerable_questions(
    answered: bool,
    extractive: bool,
    gold: str | None,
    outcome: Outcome,
    quoted: bool | None,
    correct: bool | None,
) -> None:
    v = verdict("It is 41.", answered=answered, extractive=extractive, gold=gold)
    assert (v.outcome, v.quote_contains_gold, v.correct) == (outcome, quoted, correct)
    assert v.answerable_gold is (gold != "Not answerable")


def test_tally_rates_name_their_denominators() -> None:
    verdicts = [
        verdict("65534", answered=True, extractive=False, gold="65534", answer_format="Int"),
        verdict("41", answered=True, extractive=False, gold="65534", answer_format="Int"),
        verdict("41", answered=True, extractive=False, gold="Not answerable"),
        verdict("", answered=False, extractive=False, gold="65534", answer_format="Int"),
        verdict("", answered=False, extractive=False, gold="Not answerable"),
    ]
    t = tally([v.to_dict() for v in verdicts])
    assert t is not None
    assert (t["answered"], t["right"], t["confidently_wrong"]) == (3, 1, 2)
    assert (t["refused_answerable"], t["refused_unanswerable"]) == (1, 1)
    assert t["confidently_wrong_of_answered"]["mean"] == pytest.approx(2 / 3, abs=1e-4)
    assert t["refused_of_answerable"]["mean"] == pytest.approx(1 / 3, abs=1e-4)
    assert t["refused_of_unanswerable"]["mean"] == 0.5
    assert t["quote_contains_gold"] is None  # no extractive answers here
    assert t["rules"] == {"exact-match": 5}


def test_is_extractive_asks_the_pipeline_about_refusals() -> None:
    extractive = SimpleNamespace(generation=SimpleNamespace(answerer="extractive"))
    generate = SimpleNamespace(generation=SimpleNamespace(answerer="generate"))
    refusal = SimpleNamespace(answerable=False, extractive=False)
    quote = SimpleNamespace(answerable=True, extractive=True)
    assert is_extractive(extractive, refusal) is True  # type: ignore[arg-type]
    assert is_extractive(generate, refusal) is False  # type: ignore[arg-type]
    assert is_extractive(generate, quote) is True  # type: ignore[arg-type]


def test_summary_carries_the_trust_tally() -> None:
    def record(answer: str, answered: bool, gold: str) -> dict[str, Any]:
        v = verdict(answer, answered=answered, extractive=True, gold=gold, answer_format="Str")
        return {
            "answer": answer,
            "answerable": answered,
            "context_items": 1,
            "check": v.correct,
            "trust": v.to_dict(),
            "tags": [],
        }

    records = [
        record('"The bakery opens at 7 am on Mondays." [1]', True, "Mondays"),
        record('"Closed on Sundays." [1]', True, "Mondays"),
        record("No passage answers this.", False, "Mondays"),
    ]
    trust = summarize(records, "page")["trust"]
    assert trust["rules"] == {"quote-contains-gold": 3}
    assert trust["quote_contains_gold"]["mean"] == pytest.approx(1 / 3, abs=1e-4)
    assert trust["confidently_wrong_of_answered"]["mean"] == 0.5
    assert trust["words_per_answer"] == pytest.approx((9 + 4) / 2)
