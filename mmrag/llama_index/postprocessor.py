"""mmrag's relevancy score and adaptive k for any LlamaIndex retriever's nodes."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from mmrag.api import RAG
from mmrag.config import DEFAULT_PIPELINE, PipelineConfig, RetrievalConfig, load_pipeline
from mmrag.errors import ConfigError
from mmrag.llama_index.nodes import from_llama
from mmrag.models.relevance import Candidates, RelevancyScorer, relevancy_scorers
from mmrag.retrieve.selection import adaptive_k, limit_per_page
from mmrag.schema import ScoredNode
from mmrag.store import Hit

logger = logging.getLogger(__name__)

#: How the wrapped retriever's scores read: cosine similarities (a vector index), or
#: positive text-match scores like BM25; ``auto`` takes cosine when all lie in [-1, 1].
Signal = Literal["auto", "text_vector", "full_text"]


class RelevancyPostprocessor(BaseNodePostprocessor):
    """Re-score nodes with mmrag's relevancy score (Mortaheb et al. 2025) and keep *up to*
    k of them by adaptive k, instead of the fixed ``similarity_top_k`` that fetched them.

    Each node becomes an mmrag candidate seen by one retriever at its rank with its
    score; the pipeline's scorer (by default the calibrated score: similarity, how many of
    the question's terms the passage holds, a figure or page the question names, ...)
    gives it a score in [0, 1], and the pipeline's adaptive k decides how many are worth
    the LLM's context. Fetch generously (``similarity_top_k=20``) and let this cut.

    Example::

        engine = index.as_query_engine(
            similarity_top_k=20, node_postprocessors=[RelevancyPostprocessor()]
        )
    """

    #: What the retriever's scores are (see :data:`Signal`).
    signal: Signal = "auto"
    #: A fixed number of nodes to keep instead of adaptive k.
    k: int | None = None
    #: At most this many text nodes from one page (0: no limit).
    max_per_page: int = 0

    _retrieval: RetrievalConfig = PrivateAttr()
    _scorer: RelevancyScorer = PrivateAttr()

    def __init__(
        self,
        pipeline: RAG | PipelineConfig | str | Path | None = None,
        *,
        signal: Signal = "auto",
        k: int | None = None,
        max_per_page: int = 0,
        **kwargs: Any,
    ) -> None:
        """``pipeline``: a :class:`RAG` (its pipeline's scorer), a pipeline config, name or
        YAML file; the offline default when omitted."""
        fields: dict[str, Any] = {"signal": signal, "k": k, "max_per_page": max_per_page}
        super().__init__(**fields, **kwargs)
        if isinstance(pipeline, RAG):
            config = pipeline.config
            scorer = pipeline.retriever.scorer  # the one the store's searches already use
        else:
            if not isinstance(pipeline, PipelineConfig):
                pipeline = load_pipeline(pipeline or DEFAULT_PIPELINE)
            config, cfg = pipeline, pipeline.retrieval.scorer
            scorer = relevancy_scorers.create(cfg) if cfg is not None else None
        if scorer is None:
            raise ConfigError(
                f"pipeline '{config.name}' has no retrieval.scorer, so there is no "
                "relevancy score to apply"
            )
        self._retrieval = config.retrieval
        self._scorer = scorer

    @classmethod
    def class_name(cls) -> str:
        return "MmragRelevancyPostprocessor"

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if not nodes:
            return []
        if query_bundle is None or not query_bundle.query_str.strip():
            raise ConfigError(
                "RelevancyPostprocessor scores nodes against the question: pass it, e.g. "
                "postprocess_nodes(nodes, query_str='...')"
            )
        query = query_bundle.query_str
        # The retriever's ranking: by its scores, best first; as given when it has none.
        ordered = list(nodes)
        if all(n.score is not None for n in nodes):
            ordered.sort(key=lambda n: -(n.score or 0.0))
        signal = self._signal(ordered)
        rrf_k = self._retrieval.rrf_k
        items: list[ScoredNode] = []
        by_id: dict[str, NodeWithScore] = {}
        for rank, nws in enumerate(ordered, start=1):
            item = from_llama(nws.node, rank=rank, signal=signal, score=nws.score, rrf_k=rrf_k)
            if item.node.id in by_id:
                continue  # the same node fetched twice (e.g. by two retrievers) counts once
            by_id[item.node.id] = nws
            items.append(item)
        # As in mmrag's own retrieval, only the best score_top are scored (cross-encoders
        # and MLLM judges are slow); the others would not make the context anyway.
        items = items[: self._retrieval.score_top]
        hits = [Hit(node=i.node, score=i.scores[signal]["score"]) for i in items]
        candidates = Candidates(query=query, lists={signal: hits})
        for item, rs in zip(items, self._scorer.score(candidates, items), strict=True):
            item.scores["fusion"] = {"score": item.score}
            item.score = rs
        items.sort(key=lambda i: i.score, reverse=True)
        kept = self._select(limit_per_page(items, self.max_per_page))
        logger.debug("relevancy postprocessor kept %d of %d nodes", len(kept), len(nodes))
        return [NodeWithScore(node=by_id[i.node.id].node, score=i.score) for i in kept]

    def _signal(self, nodes: list[NodeWithScore]) -> str:
        if self.signal != "auto":
            return self.signal
        scores = [n.score for n in nodes if n.score is not None]
        return "text_vector" if all(-1.0 <= s <= 1.0 for s in scores) else "full_text"

    def _select(self, items: list[ScoredNode]) -> list[ScoredNode]:
        if self.k is not None:
            return items[: self.k]
        adaptive = self._retrieval.adaptive
        if not adaptive.enabled:
            return items[: self._retrieval.k]
        return adaptive_k(
            items,
            tau=adaptive.tau,
            k_min=adaptive.k_min,
            k_max=adaptive.k_max,
            relative=adaptive.relative,
            rule=adaptive.rule,
        )
