"""Fitting the calibrated relevancy score and the adaptive-k threshold on labelled data.

``mmrag tune`` runs candidate search for each labelled question (within its document
and across the corpus), computes the features of every candidate, labels a candidate
relevant when its page is gold evidence, fits the scorer's weights (ranking, then
calibration: :mod:`mmrag.retrieve.calibration`), and
picks the threshold tau that keeps the smallest context while still finding a relevant
item for nearly as many questions as a fixed k would.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np

from mmrag.config import PipelineConfig, RetrievalConfig
from mmrag.evaluate.dataset import Example
from mmrag.models.relevance.calibrated import relevancy
from mmrag.models.relevance.features import FEATURES, feature_matrix
from mmrag.retrieve import calibration
from mmrag.retrieve.calibration import Calibration
from mmrag.retrieve.filters import SearchFilter
from mmrag.retrieve.retriever import Retriever
from mmrag.retrieve.selection import AdaptiveRule, kept_counts, limit_per_page
from mmrag.schema import Node, ScoredNode

logger = logging.getLogger(__name__)

SCOPES = ("document", "corpus")
#: L2 strength of the ranking weights' fit (per question's mean log-likelihood).
DEFAULT_L2 = 1e-4


@dataclass(slots=True)
class LabelledQuery:
    example: Example
    scope: str
    items: list[ScoredNode]
    features: np.ndarray
    labels: np.ndarray


@dataclass(slots=True)
class ThresholdChoice:
    tau: float
    hit_rate: float
    mean_items: float
    fixed_k_hit_rate: float
    fixed_k_mean_items: float
    curve: list[dict[str, float]] = field(default_factory=list)
    #: Share of the best score an item must also reach (``threshold`` rule).
    relative: float = 0.0
    rule: AdaptiveRule = "marginal"


def is_evidence(example: Example) -> Callable[[Node], bool]:
    """Does a node lie on the example's gold evidence (file and, if given, page)?"""

    def check(node: Node) -> bool:
        name = PurePosixPath(node.source).name
        return any(
            (ev.source in (node.source, name) or node.source.endswith("/" + ev.source))
            and (not ev.pages or node.page in ev.pages)
            for ev in example.evidence
        )

    return check


def collect(
    retriever: Retriever,
    examples: Sequence[Example],
    *,
    scopes: Sequence[str] = SCOPES,
    progress: Callable[[int], None] | None = None,
) -> list[LabelledQuery]:
    """Candidates, features and labels for every answerable example and scope."""
    rrf_k = retriever.components.config.retrieval.rrf_k
    out = []
    for done, example in enumerate(examples, start=1):
        if not example.evidence:
            continue
        relevant = is_evidence(example)
        for scope in scopes:
            filters = (
                SearchFilter(sources=tuple(e.source for e in example.evidence))
                if scope == "document"
                else None
            )
            found, fused = retriever.candidates(
                example.question, user=example.user, filters=filters
            )
            fused = fused[: retriever.components.config.retrieval.score_top]
            if not fused:
                continue
            labels = np.array([relevant(item.node) for item in fused], dtype=np.int8)
            out.append(
                LabelledQuery(example, scope, fused, feature_matrix(found, fused, rrf_k), labels)
            )
        if progress:
            progress(done)
    return out


def fit_calibration(
    queries: Sequence[LabelledQuery],
    *,
    l2: float = DEFAULT_L2,
    features: Sequence[str] = FEATURES,
) -> Calibration:
    """Ranking weights fitted per question, calibrated to probabilities over all of them
    (see :mod:`mmrag.retrieve.calibration`); only ``features`` get a weight (the others
    weigh 0), so a feature's worth can be measured by leaving it out."""
    columns = [FEATURES.index(f) for f in features]
    return calibration.fit(
        [(q.features[:, columns], q.labels) for q in queries], tuple(features), l2=l2
    )


def score(queries: Sequence[LabelledQuery], calibration: Calibration) -> list[np.ndarray]:
    w = np.array([calibration.weights.get(f, 0.0) for f in FEATURES])
    c = calibration
    return [
        relevancy(
            q.features.astype(np.float64) @ w, bias=c.bias, slope=c.slope, standout=c.standout
        )
        for q in queries
    ]


#: Relative bars tried with every tau: 0 (absolute tau only) up to half the best score.
RELATIVE_GRID = tuple(round(0.05 * i, 2) for i in range(11))
#: Bars tried per rule: scores for ``threshold``; the chance that an item is the first
#: relevant one, log-spaced from 1 in 1000 to 1 in 2, for ``marginal``.
TAU_GRIDS: dict[str, np.ndarray] = {
    "threshold": np.round(np.arange(0.01, 1.0, 0.01), 2),
    "marginal": np.round(np.geomspace(0.001, 0.5, 200), 5),
}


def choose_tau(
    queries: Sequence[LabelledQuery],
    scores: Sequence[np.ndarray],
    *,
    k_min: int,
    k_max: int,
    max_per_page: int,
    min_hit_ratio: float = 0.95,
    rule: AdaptiveRule = "marginal",
    relative_grid: Sequence[float] = RELATIVE_GRID,
    taus: Sequence[float] | None = None,
) -> ThresholdChoice:
    """The tau (and, for the ``threshold`` rule, relative bar) giving the fewest context
    items while finding a relevant item for at least ``min_hit_ratio`` of the questions a
    fixed ``k_max`` finds one for. ``taus`` replaces the rule's grid of candidates."""
    ranked = []  # per query: scores best first, and the position of the first relevant item
    for q, s in zip(queries, scores, strict=True):
        order = np.argsort(-s)
        items = [ScoredNode(q.items[i].node, float(s[i])) for i in order]
        items = limit_per_page(items, max_per_page)
        relevant = {q.items[i].node.id for i in np.flatnonzero(q.labels)}
        first = next((n for n, i in enumerate(items) if i.node.id in relevant), len(items))
        ranked.append((np.array([i.score for i in items]), first))
    if not ranked:
        return ThresholdChoice(0.5, 0.0, 0.0, 0.0, 0.0, rule=rule)
    fixed_sizes = np.array([min(k_max, len(s)) for s, _ in ranked], dtype=np.float64)
    firsts = np.array([f for _, f in ranked])
    fixed_hit = float(np.mean(firsts < fixed_sizes))
    bars = TAU_GRIDS[rule] if taus is None else np.asarray(taus, dtype=np.float64)
    curve = []
    for relative in relative_grid if rule == "threshold" else (0.0,):
        # Items kept for each (query, tau): those reaching the bar, clamped to [k_min, k_max].
        kept = np.stack(
            [
                kept_counts(s, bars, rule=rule, relative=relative, k_min=k_min, k_max=k_max)
                for s, _ in ranked
            ]
        ).astype(np.float64)
        hits = (firsts[:, None] < kept).mean(axis=0)
        sizes = kept.mean(axis=0)
        curve += [
            {
                "tau": float(t),
                "relative": float(relative),
                "hit_rate": float(h),
                "mean_items": float(n),
            }
            for t, h, n in zip(bars, hits, sizes, strict=True)
        ]
    good = [c for c in curve if c["hit_rate"] >= min_hit_ratio * fixed_hit]
    best = (
        min(good, key=lambda c: (c["mean_items"], -c["tau"], c["relative"])) if good else curve[0]
    )
    return ThresholdChoice(
        tau=best["tau"],
        hit_rate=best["hit_rate"],
        mean_items=best["mean_items"],
        fixed_k_hit_rate=fixed_hit,
        fixed_k_mean_items=float(fixed_sizes.mean()),
        curve=curve,
        relative=best["relative"],
        rule=rule,
    )


def outcome(
    queries: Sequence[LabelledQuery],
    scores: Sequence[np.ndarray],
    choice: ThresholdChoice,
    *,
    k_min: int,
    k_max: int,
    max_per_page: int,
) -> ThresholdChoice:
    """What ``choice`` (fitted elsewhere) gives on ``queries``: its hit rate and context
    size there, next to fixed ``k_max``'s."""
    return choose_tau(
        queries,
        scores,
        k_min=k_min,
        k_max=k_max,
        max_per_page=max_per_page,
        min_hit_ratio=0.0,
        rule=choice.rule,
        relative_grid=(choice.relative,),
        taus=(choice.tau,),
    )


@dataclass(slots=True)
class TuneResult:
    config: PipelineConfig
    calibration: Calibration
    threshold: ThresholdChoice
    queries: int
    #: The share of fixed k's hits tau was fitted to keep on all the questions.
    fit_target: float = 0.95
    #: Grouped cross-validation of the fit (per scope: page hit@k, MRR, adaptive k's
    #: share of fixed k's hits and items, means over groupings and their ``_sd``);
    #: empty when skipped or when the questions cover too few documents.
    validation: dict[str, dict[str, float]] = field(default_factory=dict)


#: In-sample targets tried for tau: the smallest whose grouped figures keep the asked
#: share of fixed k's hits on unseen documents is used.
FIT_TARGETS = (0.95, 0.955, 0.96, 0.965, 0.97, 0.975, 0.98, 0.99)


def fit_threshold(
    queries: Sequence[LabelledQuery],
    calibration: Calibration,
    settings: RetrievalConfig,
    *,
    min_hit_ratio: float = 0.95,
) -> ThresholdChoice:
    """:func:`choose_tau` for ``queries`` scored by ``calibration``, under the k_min,
    k_max, rule and per-page limit of a pipeline's retrieval ``settings``."""
    return choose_tau(
        queries,
        score(queries, calibration),
        k_min=settings.adaptive.k_min,
        k_max=settings.adaptive.k_max,
        max_per_page=settings.max_per_page,
        min_hit_ratio=min_hit_ratio,
        rule=settings.adaptive.rule,
    )


def tune(
    retriever: Retriever,
    examples: Sequence[Example],
    *,
    scopes: Sequence[str] = SCOPES,
    min_hit_ratio: float = 0.95,
    cv_repeats: int = 5,
    fit_target: float | None = None,
    progress: Callable[[int], None] | None = None,
) -> TuneResult:
    """Fit the calibrated scorer and tau; returns the pipeline config with both applied.

    With ``cv_repeats`` the fit is first cross-validated grouped by document
    (:mod:`mmrag.retrieve.validation`), and tau is fitted for the smallest in-sample
    target (:data:`FIT_TARGETS`) that keeps ``min_hit_ratio`` of fixed k's hits on the
    documents left out; ``fit_target`` fixes that target instead."""
    from mmrag.retrieve import validation  # it builds on this module

    config = retriever.components.config
    settings = config.retrieval
    queries = collect(retriever, examples, scopes=scopes, progress=progress)
    targets = (fit_target,) if fit_target is not None else FIT_TARGETS
    report: dict[str, dict[str, float]] = {}
    target = fit_target if fit_target is not None else min_hit_ratio
    if cv_repeats > 0:
        results = validation.cross_validate(
            queries, settings, validation.Fitting(fit_targets=targets), repeats=cv_repeats
        )
        if results:
            target = validation.choose_fit_target(results, min_hit_ratio)
            report = results[target]
        else:
            logger.warning("grouped cross-validation skipped: the questions cover < 2 documents")
    calibration = fit_calibration(queries)
    threshold = fit_threshold(queries, calibration, settings, min_hit_ratio=target)
    data = config.model_dump(mode="json")
    data["retrieval"]["scorer"] = {
        "type": "calibrated",
        "weights": calibration.weights,
        "bias": calibration.bias,
        "slope": calibration.slope,
        "standout": calibration.standout,
        "rrf_k": settings.rrf_k,
    }
    data["retrieval"]["adaptive"] = {
        **data["retrieval"]["adaptive"],
        "enabled": True,
        "rule": threshold.rule,
        "tau": threshold.tau,
        "relative": threshold.relative,
    }
    return TuneResult(
        PipelineConfig.from_dict(data), calibration, threshold, len(queries), target, report
    )
