"""Fitting the relevancy score: listwise ranking weights, Platt calibration, and the
query-term coverage features they learn from."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmrag.errors import ConfigError
from mmrag.models.relevance.calibrated import relevancy
from mmrag.models.relevance.lexical import (
    _terms_among,
    coverages,
    reference_matches,
    references,
    terms,
)
from mmrag.retrieve.calibration import fit, fit_ranking_weights


def test_terms_drop_question_words_and_split_fiscal_years() -> None:
    got = terms("What is Netflix\u2019s working capital in FY2015? Please round to two decimals.")
    assert {"netflix", "working", "capital", "fy", "2015"} <= got
    assert not {"what", "is", "please", "round", "in"} & got


def test_terms_fold_plurals() -> None:
    assert terms("charts companies boxes glass") == {"chart", "company", "box", "glass"}


def test_coverage_prefers_the_passage_with_every_term() -> None:
    plain, weighted = zip(
        *coverages(
            "Netflix working capital 2015",
            ["Netflix Netflix Netflix", "Netflix working capital in 2015", None, "capital"],
        ),
        strict=True,
    )
    assert plain == (0.25, 1.0, 0.0, 0.25)
    assert weighted[1] == pytest.approx(1.0)
    # "netflix" is in two of the four candidates, "capital" in two as well, but the
    # passage naming only the company scores no more than the one naming only capital.
    assert weighted[0] == pytest.approx(weighted[3])
    assert weighted[2] == 0.0


# Words whose endings the stemmer strips, or nearly (plurals of -s/-x/-z/-y words,
# possessives, stop words, short words), among plain ones.
_WORD_TEXT = """chart charts chart's company companies box boxes bus buses class classes glass
    its is as us ies series news 2015 fy2015 3.5 don't analysis analyses city cities sale
    sales process processes yes es s x xes axes quiz quizzes tie ties pies dies user users
    user's the of what how many report"""
_WORDS = st.sampled_from(_WORD_TEXT.split())


@given(
    st.lists(_WORDS | st.text("abcesiyxz'", max_size=7), max_size=8),
    st.lists(_WORDS | st.text("abcesiyxz' ", max_size=9), max_size=30),
)
def test_coverage_finds_exactly_the_terms_both_hold(
    question: list[str], passage: list[str]
) -> None:
    wanted = terms(" ".join(question))
    text = " ".join(passage)
    assert _terms_among(text, wanted) == wanted & terms(text)


def test_coverage_of_a_question_without_content_terms_is_zero() -> None:
    assert coverages("What is it?", ["anything", "else"]) == [(0.0, 0.0), (0.0, 0.0)]


def _groups(seed: int, n: int = 60) -> list[tuple[np.ndarray, np.ndarray]]:
    """Questions whose gold candidate has the highest feature 0; feature 1 is noise and
    feature 2 a per-question offset that says nothing about which candidate is gold."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = rng.normal(size=(20, 3))
        x[:, 2] = rng.normal()
        y = np.zeros(20, dtype=np.int8)
        y[int(np.argmax(x[:, 0]))] = 1
        out.append((x, y))
    return out


def test_ranking_weights_find_the_signal() -> None:
    w = fit_ranking_weights(_groups(0))
    assert w[0] > 1.0
    assert abs(w[1]) < 0.3 * w[0]
    assert abs(w[2]) < 0.3 * w[0]  # constant within a question: no say in its order


def test_fit_ranks_held_out_questions_and_calibrates() -> None:
    calibration = fit(_groups(1), ["signal", "noise", "offset"])
    w = np.array([calibration.weights[n] for n in ("signal", "noise", "offset")])
    held_out = _groups(2)
    top_is_gold = [y[int(np.argmax(x @ w))] == 1 for x, y in held_out]
    assert np.mean(top_is_gold) > 0.9
    c = calibration
    p = [relevancy(x @ w, bias=c.bias, slope=c.slope, standout=c.standout) for x, _ in held_out]
    assert np.concatenate(p).mean() == pytest.approx(1 / 20, abs=0.02)  # one gold in twenty
    # The gold stands out from its question's candidates, and the score says so.
    assert c.standout > 0
    gold = np.concatenate([pi[y == 1] for pi, (_, y) in zip(p, held_out, strict=True)])
    assert np.median(gold) > 0.5


def test_fit_needs_relevant_and_irrelevant_candidates() -> None:
    x = np.ones((5, 2))
    with pytest.raises(ConfigError, match="both relevant and irrelevant"):
        fit([(x, np.zeros(5, dtype=np.int8))], ["a", "b"])
    with pytest.raises(ConfigError, match="both relevant and irrelevant"):
        fit([], ["a", "b"])


def test_references_to_figures_and_tables() -> None:
    assert references("Compare Fig. 3 with Table 2 and figures 10") == {
        ("figure", 3),
        ("table", 2),
        ("figure", 10),
    }
    assert reference_matches(
        "What does Figure 3 show?",
        ["Figure 3: accuracy by model", "see Figure 13", "Table 3", None],
    ) == [1.0, 0.0, 0.0, 0.0]
    assert reference_matches("What does the map show?", ["Figure 3"]) == [0.0]


def _listwise_loss(groups: list[tuple[np.ndarray, np.ndarray]], w: np.ndarray) -> float:
    """The objective written one question at a time, as the docstring states it."""
    total = 0.0
    for x, y in groups:
        z = x @ w
        p = np.exp(z - z.max())
        p /= p.sum()
        total -= np.log(p[y == 1].sum())
    return total / len(groups)


def test_padded_fit_reaches_the_per_question_optimum() -> None:
    # Questions with different numbers of candidates: padding must not count as one.
    groups = [(x[: 5 + i % 15], y[: 5 + i % 15]) for i, (x, y) in enumerate(_groups(3))]
    groups = [(x, y) for x, y in groups if y.any()]
    w = fit_ranking_weights(groups, l2=0.0)
    best = _listwise_loss(groups, w)
    rng = np.random.default_rng(0)
    for _ in range(20):
        assert _listwise_loss(groups, w + rng.normal(scale=0.05, size=3)) >= best - 1e-6


def test_l2_shrinks_the_weights() -> None:
    loose = fit_ranking_weights(_groups(0), l2=1e-4)
    tight = fit_ranking_weights(_groups(0), l2=1.0)
    assert np.linalg.norm(tight) < 0.5 * np.linalg.norm(loose)
