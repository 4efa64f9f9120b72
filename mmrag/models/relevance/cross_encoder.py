"""Cross-encoder relevancy (sentence-transformers CrossEncoder), for users who can download
one, e.g. ``cross-encoder/ms-marco-MiniLM-L-6-v2``. It reads query and passage together:
more accurate than embeddings, slower, so it scores only the top candidates."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any, Literal

from mmrag.models.deps import require
from mmrag.models.mllm.base import BackendUnavailableError
from mmrag.models.relevance.base import Candidates, item_text, relevancy_scorers
from mmrag.registry import BackendConfig
from mmrag.schema import ScoredNode
from mmrag.timing import timed_load


class CrossEncoderConfig(BackendConfig):
    type: Literal["cross-encoder"] = "cross-encoder"
    model: str = "cross-encoder/ms-marco-MiniLM-L-6-v2"
    device: str = "cpu"
    batch_size: int = 32
    max_chars: int = 2000


@relevancy_scorers.register("cross-encoder", CrossEncoderConfig)
class CrossEncoderScorer:
    def __init__(self, config: CrossEncoderConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return f"cross-encoder:{self.config.model}"

    def score(self, candidates: Candidates, items: Sequence[ScoredNode]) -> list[float]:
        if not items or not candidates.query:
            return [0.0] * len(items)
        pairs = [(candidates.query, item_text(item, self.config.max_chars)) for item in items]
        torch = require("torch", extra="local", purpose="cross-encoder scoring")
        scores = self._model.predict(
            pairs,
            batch_size=self.config.batch_size,
            activation_fn=torch.nn.Sigmoid(),
            show_progress_bar=False,
        )
        return [float(s) for s in scores]

    @cached_property
    @timed_load
    def _model(self) -> Any:
        st = require("sentence_transformers", extra="local", purpose="cross-encoder scoring")
        try:
            return st.CrossEncoder(self.config.model, device=self.config.device)
        except Exception as exc:
            raise BackendUnavailableError(
                f"could not load cross-encoder '{self.config.model}': {exc}. It must be "
                "downloaded from the Hugging Face hub or given as a local directory."
            ) from exc
