"""Query-term coverage: how much of what the question names does a passage contain?
And does it carry the figure or table the question points at?

BM25 rewards a passage for repeating a query's rarest term; coverage rewards it for
containing *all* of the question's terms — "Netflix", "working capital" and "2015" on one
page beats a page that says "Netflix" twenty times. Two flavours:

- plain: the share of the question's content terms found in the passage;
- IDF-weighted: the same, each term weighted by how rare it is *among the candidates*
  (a term every candidate contains — the company's name, when searching its own
  report — tells them apart by nothing).
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Sequence

# Words and numbers apart, so "FY2015" matches a table headed "2015".
_TOKEN = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+(?:[.,]\d+)*")

# Function words, and the words questions use to ask rather than to say what they are
# about ("please give the answer in int format, rounded to two decimal places").
_STOPWORD_TEXT = """
    a an the of in on at to for from by with and or not no is are was were be been being
    this that these those it its as into than then there their they them he she his her we
    our you your i me my what which who whom whose when where why how many much does do did
    can could should would will shall may might about according report document paper give
    answer please list format int float write round decimal place term number e g"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())


@functools.lru_cache(maxsize=1 << 16)
def _stem(token: str) -> str:
    """Plural and possessive to singular, roughly ("charts", "chart's" -> "chart")."""
    if token.endswith("'s"):
        return token[:-2]
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 4 and token.endswith("es") and token[-3] in "sxz":
        return token[:-2]
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        return token[:-1]
    return token


def _tokens(text: str | None) -> set[str]:
    return set(_TOKEN.findall((text or "").lower().replace("\u2019", "'")))


def terms(text: str | None) -> set[str]:
    """Content terms of ``text``: lower-cased words and numbers, stop words dropped."""
    # Each distinct word stemmed once (and remembered): scoring reads a hundred passages
    # per question, and stemming every occurrence was most of the scorer's time.
    tokens = _tokens(text)
    stems = (_stem(t) for t in tokens if t not in STOPWORDS)
    return {s for s in stems if len(s) > 1 and s not in STOPWORDS}


def _terms_among(text: str | None, wanted: set[str]) -> set[str]:
    """``wanted & terms(text)``, without stemming the passage's words (a passage is long,
    a question's terms few: this was most of the scorer's time, at 1M nodes and on the
    dev store alike): the passage's words meet the few words that stem to a wanted term
    in one set intersection."""
    forms = _forms_of(frozenset(wanted))
    return {forms[t] for t in _tokens(text) & forms.keys()}


@functools.lru_cache(maxsize=256)
def _forms_of(wanted: frozenset[str]) -> dict[str, str]:
    """Every word that :func:`terms` turns into one of ``wanted``, mapped to that term.

    :func:`_stem` only strips an ending ('s, s, es, ies -> y), so the words stemming to
    a term are the term itself and the term with one of those endings; each is kept
    where ``_stem`` does map it back to the term and it is no stop word."""
    forms: dict[str, str] = {}
    for term in wanted:
        for form in (term, term + "s", term + "es", term + "'s", term[:-1] + "ies"):
            if form not in STOPWORDS and _stem(form) == term:
                forms[form] = term
    return forms


def coverages(query: str | None, passages: Sequence[str | None]) -> list[tuple[float, float]]:
    """(plain, IDF-weighted) coverage of the query's terms by each passage, in [0, 1]."""
    wanted = terms(query)
    if not wanted or not passages:
        return [(0.0, 0.0)] * len(passages)
    found = [_terms_among(p, wanted) for p in passages]
    weight = _idf(wanted, found)
    # fsum: exactly rounded, so the same in every process whatever order a set of
    # strings iterates in (which varies with Python's hash seed).
    total = math.fsum(weight.values())
    return [(len(f) / len(wanted), math.fsum(weight[t] for t in f) / total) for f in found]


# "Figure 3", "Fig. 3", "figures 3", "Table 2", "Tab. 2".
_REFERENCE = re.compile(r"\b(fig(?:ure)?s?|tab(?:le)?s?)\.?\s*(\d{1,3})\b", re.IGNORECASE)


def references(text: str | None) -> set[tuple[str, int]]:
    """Numbered figures and tables ``text`` names: {("figure", 3), ("table", 2)}."""
    return {
        ("figure" if kind.lower().startswith("fig") else "table", int(number))
        for kind, number in _REFERENCE.findall(text or "")
    }


def reference_matches(query: str | None, passages: Sequence[str | None]) -> list[float]:
    """1.0 for each passage naming a figure or table the query asks about ("in Figure 3")."""
    wanted = references(query)
    if not wanted:
        return [0.0] * len(passages)
    return [float(bool(wanted & references(p))) for p in passages]


def _idf(wanted: set[str], found: Iterable[set[str]]) -> dict[str, float]:
    found = list(found)
    n = len(found)
    return {t: math.log((n + 1) / (sum(t in f for f in found) + 0.5)) for t in wanted}
