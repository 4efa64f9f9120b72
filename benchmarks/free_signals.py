"""Could the default pipeline reach issue 17's "≤ 50% of the items" with signals it can
afford?

The default keeps 95% of fixed k=10's hits with ~51-52% of its items (grouped by
document). Pipelines ``late`` and ``mpnet`` reach ≤ 50%, but they store 4x the bytes or
embed every chunk twice, and take 40-75 ms a query against issue 15's 20 ms median. Each
signal below costs nothing in the store; it goes into the relevancy score as the two
late-interaction features (the value, and relative to the question's best candidate) and
is cross-validated grouped by document exactly as ``late_interaction.py`` does, on the
same collected candidates:

  none          the default's features alone (the reference)
  bigrams       share of the question's adjacent content-term pairs the candidate holds,
                and how close together its matched terms sit (smallest window holding
                them): phrase and proximity matching, cheaper cousins of late interaction
  numbers       share of the question's numbers the candidate holds
  feedback      cosine with the question's vector moved toward the mean of its three
                first candidates' vectors in fused order (pseudo-relevance feedback,
                Rocchio): the candidates' vectors can come back with the search
  late_all      late interaction (MaxSim, 8-bit token vectors) for every candidate: what
                pipeline ``late`` does, the reference for the next two
  late_top_20   late interaction for each question's first 20 candidates only, ranked by
                the default score fitted on the other half of the documents; the others'
                value imputed from their cosine (a line through the 20): a quarter of the
                token vectors read
  late_top_30   the same with 30

Prints one JSON line: per signal, per fit target of tau and per scope, page hit@5 and
adaptive k's share of fixed k=10's hits and items on documents left out (mean and sd
over the groupings), and the fit target ``mmrag tune`` would pick with its figures.

    python benchmarks/retrieval_study.py --store DIR --cache CAND.pkl --skip ablation l2 ranking
    python benchmarks/free_signals.py --cache CAND.pkl [--repeats 30]
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import random
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from late_interaction import minilm, signals, token_vectors, validated, with_signal

from mmrag.config import load_pipeline
from mmrag.models.relevance.features import FEATURES
from mmrag.models.relevance.late_interaction import maxsim
from mmrag.models.relevance.lexical import _TOKEN, STOPWORDS, _stem
from mmrag.retrieve.tuning import LabelledQuery, fit_calibration, score
from mmrag.retrieve.validation import document_of
from mmrag.store.token_vectors import pack, unpack

SIGNALS = ("none", "bigrams", "numbers", "feedback", "late_all", "late_top_20", "late_top_30")
#: The default's features: no second embedder, no late interaction.
DEFAULT_FEATURES = tuple(f for f in FEATURES if not f.startswith(("second", "late")))
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")


def words(text: str | None) -> list[str]:
    return [_stem(t) for t in _TOKEN.findall((text or "").lower().replace("\u2019", "'"))]


def content_terms(text: str | None) -> list[str]:
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1]


def pairs(text: str | None) -> set[tuple[str, str]]:
    """Adjacent content terms ("working capital", "net revenue")."""
    terms = content_terms(text)
    return set(itertools.pairwise(terms))


def pair_share(question: str, text: str | None) -> float:
    asked = pairs(question)
    return len(asked & pairs(text)) / len(asked) if asked else 0.0


def proximity(question: str, text: str | None) -> float:
    """Share of the question's terms found, times how densely the smallest window of
    the passage holding all of them packs them (1: side by side)."""
    wanted = set(content_terms(question))
    hits = [(i, w) for i, w in enumerate(words(text)) if w in wanted]
    found = {w for _, w in hits}
    if len(wanted) < 2 or len(found) < 2:
        return 0.0
    counts: dict[str, int] = {}
    window, start = hits[-1][0] - hits[0][0] + 1, 0
    for position, term in hits:
        counts[term] = counts.get(term, 0) + 1
        while len(counts) == len(found):  # shrink from the left while all are inside
            window = min(window, position - hits[start][0] + 1)
            leaving = hits[start][1]
            counts[leaving] -= 1
            if not counts[leaving]:
                del counts[leaving]
            start += 1
    return len(found) / len(wanted) * len(found) / window


def number_share(question: str, text: str | None) -> float:
    asked = set(_NUMBER.findall(question))
    return len(asked & set(_NUMBER.findall(text or ""))) / len(asked) if asked else 0.0


def feedback(query: LabelledQuery, vectors: dict[str, np.ndarray], best: int = 3) -> np.ndarray:
    """Cosine of each candidate with the question's vector plus the mean of its ``best``
    first candidates' (in fused order, as retrieval gives them)."""
    asked = vectors[f"q:{query.example.question}"]
    found = np.stack([vectors.get(item.node.id, np.zeros_like(asked)) for item in query.items])
    order = np.argsort([-item.score for item in query.items])
    moved = asked + found[order[:best]].mean(axis=0)
    out: np.ndarray = np.maximum(found @ (moved / np.linalg.norm(moved)), 0.0)
    return out


def late_values(query: LabelledQuery, tokens: dict[str, np.ndarray]) -> np.ndarray:
    """MaxSim of the question with each candidate's token vectors, stored 8-bit."""
    asked = tokens[f"q:{query.example.question}"].astype(np.float32)
    out = np.zeros(len(query.items))
    for i, item in enumerate(query.items):
        found = tokens.get(item.node.id)
        if found is not None:
            out[i] = maxsim(asked, unpack(pack(found.astype(np.float32)), found.shape[1]))
    return out


def out_of_fold_scores(queries: Sequence[LabelledQuery], seed: int = 12345) -> list[np.ndarray]:
    """The default score of every candidate, fitted on the other half of the documents."""
    documents = sorted({document_of(q) for q in queries})
    random.Random(seed).shuffle(documents)
    halves = [set(documents[::2]), set(documents[1::2])]
    out: list[np.ndarray] = [np.zeros(0)] * len(queries)
    for half in halves:
        fitted = fit_calibration(
            [q for q in queries if document_of(q) not in half], features=DEFAULT_FEATURES
        )
        inside = [i for i, q in enumerate(queries) if document_of(q) in half]
        for i, scores in zip(inside, score([queries[i] for i in inside], fitted), strict=True):
            out[i] = scores
    return out


def top_only(query: LabelledQuery, values: np.ndarray, first: np.ndarray, n: int) -> np.ndarray:
    """``values`` for the ``n`` candidates ``first`` scores best; the others' from their
    cosine, by a line through those ``n`` (capped at the least of them)."""
    read = np.zeros(len(values), dtype=bool)
    read[np.argsort(-first)[:n]] = True
    cosine = query.features[:, FEATURES.index("text_cos")].astype(np.float64)
    known = read & (values > 0)
    if not known.any():
        return np.where(read, values, 0.0)
    floor = values[known].min()
    if known.sum() >= 3 and np.ptp(cosine[known]) > 0:
        slope, intercept = np.polyfit(cosine[known], values[known], 1)
        guess = np.clip(intercept + slope * cosine, 0.0, floor)
    else:
        guess = np.full(len(values), floor)
    return np.where(read, values, np.where(cosine > 0, guess, 0.0))


def with_pair(query: LabelledQuery, value: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The query's features with two signals in the late-interaction columns."""
    features = query.features.copy()
    features[:, FEATURES.index("late_maxsim")] = value
    features[:, FEATURES.index("late_maxsim_rel")] = second
    return features


class Signals:
    """Each signal's features for a question; what they need is computed once."""

    def __init__(self, queries: Sequence[LabelledQuery]) -> None:
        self.queries = queries
        self._tokens: dict[str, np.ndarray] = {}
        self._vectors: dict[str, np.ndarray] = {}
        self._first: list[np.ndarray] = []

    def features(self, name: str, k: int) -> np.ndarray:
        q = self.queries[k]
        if name == "none":
            return q.features
        if name == "bigrams":
            texts = [item.node.text for item in q.items]
            return with_pair(
                q,
                np.array([pair_share(q.example.question, t) for t in texts]),
                np.array([proximity(q.example.question, t) for t in texts]),
            )
        if name == "numbers":
            return with_signal(
                q, np.array([number_share(q.example.question, i.node.text) for i in q.items])
            )
        if name == "feedback":
            if not self._vectors:
                self._vectors = signals(
                    self.queries, lambda texts: list(minilm().text_embedder.embed(texts))
                )
            return with_signal(q, feedback(q, self._vectors))
        if not self._tokens:
            self._tokens = signals(self.queries, token_vectors)
        values = late_values(q, self._tokens)
        if name == "late_all":
            return with_signal(q, values)
        if not self._first:
            self._first = out_of_fold_scores(self.queries)
        return with_signal(q, top_only(q, values, self._first[k], int(name.split("_")[-1])))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, required=True, help="retrieval_study.py --cache")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--signals", nargs="*", default=SIGNALS, choices=SIGNALS)
    args = parser.parse_args()
    if not args.cache.is_file():
        print(f"skipped: {args.cache} not found (run retrieval_study.py --cache)", file=sys.stderr)
        return 0
    queries: list[LabelledQuery] = pickle.loads(args.cache.read_bytes())  # our own file
    settings = load_pipeline("default").retrieval
    figures: dict[str, Any] = {"benchmark": "free_signals", "questions": len(queries) // 2}
    computed = Signals(queries)
    for name in args.signals:
        started = time.perf_counter()
        scored = [
            LabelledQuery(q.example, q.scope, q.items, computed.features(name, k), q.labels)
            for k, q in enumerate(queries)
        ]
        figures[name] = validated(scored, settings, args.repeats)
        figures[name]["seconds"] = round(time.perf_counter() - started, 1)
        print(name, figures[name]["chosen_target"], figures[name]["chosen"], file=sys.stderr)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
