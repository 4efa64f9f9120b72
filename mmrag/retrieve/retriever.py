"""Retrieval end to end: candidates -> fusion -> relevancy score -> page diversity ->
adaptive k -> optional MLLM re-rank -> page neighbours.

The returned items carry the relevancy score as ``score`` (fusion score kept under
``scores["fusion"]``), so callers see one number in [0, 1] they can threshold.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import cached_property

from PIL import Image

from mmrag.components import Components
from mmrag.errors import ConfigError
from mmrag.models.mllm import mllms
from mmrag.models.relevance import Candidates, RelevancyScorer, relevancy_scorers
from mmrag.models.relevance.mllm_judge import MLLMJudgeConfig, MLLMJudgeScorer
from mmrag.retrieve.candidates import CandidateSearch
from mmrag.retrieve.filters import SearchFilter
from mmrag.retrieve.fusion import reciprocal_rank_fusion
from mmrag.retrieve.routing import DocumentRouter
from mmrag.retrieve.selection import adaptive_k, limit_per_page, with_page_text
from mmrag.schema import NodeKind, ScoredNode
from mmrag.store import Store


@dataclass(slots=True)
class Retrieval:
    items: list[ScoredNode]
    #: Distinct candidates the retrievers found before selection.
    candidates: int = 0
    timings: dict[str, float] = field(default_factory=dict)


class Retriever:
    def __init__(self, store: Store, components: Components) -> None:
        self.store = store
        self.components = components
        self._candidates = CandidateSearch(store, components)

    def retrieve(
        self,
        query: str | None = None,
        *,
        image: Image.Image | None = None,
        user: str | None = None,
        filters: SearchFilter | None = None,
        k: int | None = None,
        neighbours: bool = False,
    ) -> Retrieval:
        """Context for ``query`` and/or ``image``: ``k`` items, or adaptive k when ``k`` is None.

        ``neighbours`` (for generation context) adds, after each image, its page's best
        text item when the pipeline's ``retrieval.page_neighbours`` is on.
        """
        settings = self.components.config.retrieval
        if image is not None and self.components.image_embedder is None:
            raise ConfigError(
                f"pipeline '{self.components.config.name}' has no image_embedder, "
                "so it cannot search by image"
            )
        if not (query and query.strip()) and image is None:
            raise ConfigError("give a text query, a query image, or both")
        timings: dict[str, float] = {}
        started = time.perf_counter()
        found = self._candidates.gather(
            query,
            image=image,
            user=user,
            filters=filters or SearchFilter(),
            limit=max(settings.candidates, k or 0),
        )
        fused = reciprocal_rank_fusion(found.lists, weights=settings.weights, rrf_k=settings.rrf_k)
        timings["candidates"] = time.perf_counter() - started
        if self.scorer is not None and fused:
            mark = time.perf_counter()
            fused = fused[: settings.score_top]
            for item, rs in zip(fused, self.scorer.score(found, fused), strict=True):
                item.scores["fusion"] = {"score": item.score}
                item.score = rs
            with_map_relevancy(found, fused)
            fused.sort(key=lambda item: item.score, reverse=True)
            timings["score"] = time.perf_counter() - mark
        ranked = limit_per_page(fused, settings.max_per_page)
        if settings.rerank.enabled and query:
            mark = time.perf_counter()
            ranked = self._rerank(query, ranked, settings.rerank.top_n)
            timings["rerank"] = time.perf_counter() - mark
        items = self._select(ranked, k)
        if neighbours and settings.page_neighbours:
            items = with_page_text(items, _best_text_per_page(fused))
        timings["total"] = time.perf_counter() - started
        return Retrieval(items=items, candidates=found.size, timings=timings)

    def candidates(
        self,
        query: str | None,
        *,
        image: Image.Image | None = None,
        user: str | None = None,
        filters: SearchFilter | None = None,
        limit: int | None = None,
    ) -> tuple[Candidates, list[ScoredNode]]:
        """What the retrievers found, and its rank fusion (before any relevancy scoring)."""
        settings = self.components.config.retrieval
        found = self._candidates.gather(
            query,
            image=image,
            user=user,
            filters=filters or SearchFilter(),
            limit=limit or settings.candidates,
        )
        fused = reciprocal_rank_fusion(found.lists, weights=settings.weights, rrf_k=settings.rrf_k)
        return found, fused

    def _select(self, ranked: list[ScoredNode], k: int | None) -> list[ScoredNode]:
        settings = self.components.config.retrieval
        adaptive = settings.adaptive
        if k is not None:
            return ranked[:k]
        if adaptive.enabled and self.scorer is not None:
            return adaptive_k(
                ranked,
                tau=adaptive.tau,
                k_min=adaptive.k_min,
                k_max=adaptive.k_max,
                relative=adaptive.relative,
                rule=adaptive.rule,
            )
        return ranked[: settings.k]

    def _rerank(self, query: str, ranked: list[ScoredNode], top_n: int) -> list[ScoredNode]:
        head, tail = ranked[:top_n], ranked[top_n:]
        judged = list(zip(self.judge.judge_many(query, head), head, strict=True))
        for p_yes, item in judged:
            item.scores["rerank"] = {"score": p_yes}
        judged.sort(key=lambda pair: pair[0], reverse=True)
        return [item for _, item in judged] + tail

    @property
    def router(self) -> DocumentRouter:
        """What ranks whole documents for the document prior (its ``method`` can be set)."""
        return self._candidates.router

    @cached_property
    def scorer(self) -> RelevancyScorer | None:
        cfg = self.components.config.retrieval.scorer
        return relevancy_scorers.create(cfg) if cfg is not None else None

    @cached_property
    def judge(self) -> MLLMJudgeScorer:
        cfg = self.components.config.retrieval.rerank.judge
        model = mllms.create(mllms.parse(cfg)) if cfg else self.components.generator
        batch_size = self.components.config.retrieval.rerank.batch_size
        return MLLMJudgeScorer(MLLMJudgeConfig(batch_size=batch_size), model=model)


def with_map_relevancy(found: Candidates, items: list[ScoredNode]) -> None:
    """Merge the text -> image map's calibrated P(relevant) into the relevancy score of
    each item the map found, as a noisy-or: ``1 - (1 - rs) (1 - p_map)``.

    The score and the map judge the same item from different evidence (its words; its
    pixels), and the score was fitted on documents, where it learnt to give image
    similarity no weight. Noisy-or lets either make an item likely — an image the map is
    sure of ranks high and adaptive k keeps it — without ever lowering what the words
    say, and it leaves every item no calibrated map found (every item of a store without
    a map) exactly as scored. The map's probability is kept under ``scores["text_image_p"]``.
    """
    relevancy = found.text_image_relevancy
    if not relevancy:
        return
    for item in items:
        hit = item.scores.get("text_image")
        if hit is None:
            continue
        p_map = relevancy[int(hit["rank"]) - 1]
        item.scores["text_image_p"] = {"score": p_map}
        item.score = 1.0 - (1.0 - item.score) * (1.0 - p_map)


def _best_text_per_page(items: list[ScoredNode]) -> dict[tuple[str, int], ScoredNode]:
    best: dict[tuple[str, int], ScoredNode] = {}
    for item in items:  # best first
        node = item.node
        if node.kind == NodeKind.TEXT and node.page is not None:
            best.setdefault((node.source, node.page), item)
    return best
