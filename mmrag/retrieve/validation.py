"""Cross-validation grouped by document: what the fitted relevancy score and adaptive k
do on documents they were never fitted on.

Splitting the *questions* at random puts questions about one PDF on both sides, so the
scoring fold rewards weights that learned that PDF's quirks (its printed page numbers,
how its captions read). On 38 unseen MMLongBench PDFs the dev-fitted scorer gained
about a third of what question-split validation promised, and adaptive k kept 90% of
fixed k=10's hits instead of 95%. Here every fold holds whole documents: the questions
about a PDF are all fitted on or all scored, never both; and the split is repeated with
several random groupings, so each figure comes with its spread.

Everything works on the candidates :func:`~mmrag.retrieve.tuning.collect` gathered once
(their features and labels): a fit and its scoring are array operations, no retrieval.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import numpy as np

from mmrag.config import RetrievalConfig
from mmrag.models.relevance.features import FEATURES
from mmrag.retrieve.tuning import (
    DEFAULT_L2,
    SCOPES,
    LabelledQuery,
    fit_calibration,
    fit_threshold,
    outcome,
    score,
)

#: Page hit@k cut-offs reported.
CUTOFFS = (1, 5, 10)


@dataclass(frozen=True, slots=True)
class Fitting:
    """How the scorer and tau are fitted on a training fold."""

    features: tuple[str, ...] = FEATURES
    l2: float = DEFAULT_L2
    #: The share of fixed k's hits tau is fitted to keep on the training fold, one per
    #: result: fitting to exactly the target keeps less of it on unseen documents. None:
    #: only the ranking is measured (under the key :data:`RANKING_ONLY`), which is faster.
    fit_targets: tuple[float, ...] = (0.95,)


#: The results' key when no tau is fitted (``Fitting(fit_targets=())``).
RANKING_ONLY = 0.0


def document_of(query: LabelledQuery) -> str:
    """The group a question belongs to: its (first) evidence document's file name."""
    return PurePosixPath(query.example.evidence[0].source).name


def question_of(query: LabelledQuery) -> str:
    """Each question its own group: the question-split validation, for comparison."""
    return query.example.id


def grouped_folds(
    queries: Sequence[LabelledQuery],
    folds: int,
    seed: int,
    group: Callable[[LabelledQuery], str] = document_of,
) -> list[list[int]]:
    """Indexes of ``queries`` in ``folds`` folds of whole groups (documents by default).

    Documents are shuffled with ``seed``, then each goes to the fold with the fewest
    questions so far, so folds are about equally large whatever the documents' sizes.
    Both scopes of a question go with it."""
    by_document: dict[str, list[int]] = defaultdict(list)
    for i, q in enumerate(queries):
        by_document[group(q)].append(i)
    documents = sorted(by_document)
    random.Random(seed).shuffle(documents)
    out: list[list[int]] = [[] for _ in range(folds)]
    for document in documents:
        min(out, key=len).extend(by_document[document])
    return out


def page_rank(query: LabelledQuery, scores: np.ndarray, depth: int = 10) -> int | None:
    """Rank (from 1) of the first gold page among the distinct pages in score order, if
    within ``depth`` pages: what the retrieval benchmark measures, without retrieval."""
    pages: list[tuple[str, int]] = []
    for i in np.argsort(-scores, kind="stable"):
        node = query.items[i].node
        key = (PurePosixPath(node.source).name, node.page or 0)
        if key in pages:
            continue
        pages.append(key)
        if query.labels[i]:
            return len(pages)
        if len(pages) >= depth:
            return None
    return None


def page_metrics(ranks: Sequence[int | None]) -> dict[str, float]:
    """hit@1/5/10 and MRR (within 10 pages) of first-gold-page ranks."""
    if not ranks:
        return {}
    out = {f"hit@{k}": float(np.mean([r is not None and r <= k for r in ranks])) for k in CUTOFFS}
    out["mrr"] = float(np.mean([1.0 / r if r else 0.0 for r in ranks]))
    return out


def cross_validate(
    queries: Sequence[LabelledQuery],
    settings: RetrievalConfig,
    fitting: Fitting = Fitting(),
    *,
    folds: int = 2,
    repeats: int = 5,
    seed: int = 0,
    group: Callable[[LabelledQuery], str] = document_of,
) -> dict[float, dict[str, dict[str, float]]]:
    """Per fit target and scope: page hit@k, MRR and adaptive k's share of fixed k's
    hits and items, on folds of documents never fitted on, as the mean over ``repeats``
    random groupings and its standard deviation (``<figure>_sd``).

    Each repeat scores every question exactly once (from the fold that left its document
    out); the figures of one repeat pool its folds."""
    if len({group(q) for q in queries}) < folds:
        return {}
    targets = fitting.fit_targets or (RANKING_ONLY,)
    per_repeat: dict[float, dict[str, list[dict[str, float]]]] = {
        t: defaultdict(list) for t in targets
    }
    for repeat in range(repeats):
        parts = grouped_folds(queries, folds, seed + repeat, group)
        ranks: dict[str, list[int | None]] = defaultdict(list)
        # Per target and scope: hits, fixed k's hits, items, fixed k's items (sums).
        totals: dict[float, dict[str, np.ndarray]] = {
            t: defaultdict(lambda: np.zeros(4)) for t in fitting.fit_targets
        }
        for test in range(folds):
            train = [queries[i] for f, part in enumerate(parts) if f != test for i in part]
            held = [queries[i] for i in parts[test]]
            calibration = fit_calibration(train, l2=fitting.l2, features=fitting.features)
            scores = score(held, calibration)
            for q, s in zip(held, scores, strict=True):
                ranks[q.scope].append(page_rank(q, s))
            for target in fitting.fit_targets:
                choice = fit_threshold(train, calibration, settings, min_hit_ratio=target)
                for scope in SCOPES:
                    mine = [i for i, q in enumerate(held) if q.scope == scope]
                    if not mine:
                        continue
                    got = outcome(
                        [held[i] for i in mine],
                        [scores[i] for i in mine],
                        choice,
                        k_min=settings.adaptive.k_min,
                        k_max=settings.adaptive.k_max,
                        max_per_page=settings.max_per_page,
                    )
                    totals[target][scope] += len(mine) * np.array(
                        [got.hit_rate, got.fixed_k_hit_rate, got.mean_items, got.fixed_k_mean_items]
                    )
        for target in targets:
            for scope in SCOPES:
                if not ranks[scope]:
                    continue
                row = {"questions": float(len(ranks[scope])), **page_metrics(ranks[scope])}
                if target in fitting.fit_targets:
                    hit, fixed_hit, items, fixed_items = totals[target][scope]
                    row["hit_kept"] = hit / max(fixed_hit, 1e-9)
                    row["items_ratio"] = items / max(fixed_items, 1e-9)
                per_repeat[target][scope].append(row)
    return {
        target: {scope: summarise(rows) for scope, rows in by_scope.items()}
        for target, by_scope in per_repeat.items()
    }


def summarise(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    """Mean and standard deviation over repeats of each figure, rounded for reports."""
    out: dict[str, float] = {"repeats": float(len(rows))}
    for name in rows[0]:
        values = [r[name] for r in rows]
        out[name] = round(float(np.mean(values)), 4)
        out[f"{name}_sd"] = round(float(np.std(values)), 4)
    return out


def choose_fit_target(
    results: dict[float, dict[str, dict[str, float]]], min_hit_ratio: float
) -> float:
    """The smallest fit target whose grouped figures keep ``min_hit_ratio`` of fixed k's
    hits on average in every scope (the largest tried when none does)."""
    good = [
        t
        for t, by_scope in sorted(results.items())
        if by_scope and all(f["hit_kept"] >= min_hit_ratio for f in by_scope.values())
    ]
    return good[0] if good else max(results)
