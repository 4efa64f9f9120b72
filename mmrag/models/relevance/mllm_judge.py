"""MLLM judge relevancy: P("Yes") for "Is this relevant to the question? Yes or No".

MM-Embed's zero-shot reranking and Mortaheb et al.'s relevancy score: ask the model,
read the log-probabilities of "Yes" and "No" as the next token, and use
``P(Yes) / (P(Yes) + P(No))``. Works with any backend that returns log-probs
(llama.cpp, OpenAI-compatible servers, transformers). Scores are cached per
(model, question, item), so re-ranking the same candidates again is free; the uncached
ones go to the model as one batch (concurrent requests to a server, one padded forward
pass of a transformers model).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field

from mmrag.errors import ModelError
from mmrag.models.mllm import MLLM, Generation, GenerationOptions, Message, mllms
from mmrag.models.mllm.batch import generate_many
from mmrag.models.relevance.base import Candidates, item_text, relevancy_scorers
from mmrag.registry import BackendConfig
from mmrag.schema import ScoredNode

PROMPT = (
    "Question: {question}\n\nPassage ({kind}):\n{passage}\n\n"
    "Does the passage contain information that helps answer the question? Answer Yes or No."
)
_YES = {"yes", "Yes", "YES", " yes", " Yes"}
_NO = {"no", "No", "NO", " no", " No"}


class MLLMJudgeConfig(BackendConfig):
    type: Literal["mllm-judge"] = "mllm-judge"
    #: The judging model (any MLLM backend config); default: the offline SmolLM2.
    model: dict[str, Any] = Field(default_factory=lambda: {"type": "llama-cpp"})
    prompt: str = PROMPT
    max_chars: int = 1200
    cache_size: int = 20_000
    #: Passages judged at once: concurrent requests to a model server, one padded batch
    #: for a transformers model; llama.cpp judges one after another.
    batch_size: int = Field(default=8, ge=1)


@relevancy_scorers.register("mllm-judge", MLLMJudgeConfig)
class MLLMJudgeScorer:
    def __init__(self, config: MLLMJudgeConfig, model: MLLM | None = None) -> None:
        self.config = config
        self._model = model
        self._cache: OrderedDict[tuple[str, str, str], float] = OrderedDict()
        # Server threads share one scorer; the cache's reordering is not thread-safe.
        self._cache_lock = threading.Lock()

    @property
    def model(self) -> MLLM:
        if self._model is None:
            self._model = mllms.create(mllms.parse(self.config.model))
        return self._model

    @property
    def name(self) -> str:
        return f"mllm-judge:{self.model.name}"

    def score(self, candidates: Candidates, items: Sequence[ScoredNode]) -> list[float]:
        if not candidates.query:
            return [0.0] * len(items)
        return self.judge_many(candidates.query, items)

    def judge(self, question: str, item: ScoredNode) -> float:
        return self.judge_many(question, [item])[0]

    def judge_many(self, question: str, items: Sequence[ScoredNode]) -> list[float]:
        """P("Yes") for each item: cached ones at once, the rest in one batch of requests."""
        keys = [(self.model.name, question, item.node.id) for item in items]
        known: dict[tuple[str, str, str], float] = {}
        missing: dict[tuple[str, str, str], ScoredNode] = {}
        with self._cache_lock:
            for key, item in zip(keys, items, strict=True):
                if key in self._cache:
                    self._cache.move_to_end(key)
                    known[key] = self._cache[key]
                else:
                    missing[key] = item
        if missing:
            conversations = [self._conversation(question, item) for item in missing.values()]
            generations = generate_many(
                self.model, conversations, _OPTIONS, batch_size=self.config.batch_size
            )
            for key, generation in zip(missing, generations, strict=True):
                known[key] = p_yes_of(self.model, generation)
                self._remember(key, known[key])
        return [known[key] for key in keys]

    def _remember(self, key: tuple[str, str, str], value: float) -> None:
        with self._cache_lock:
            self._cache[key] = value
            if len(self._cache) > self.config.cache_size:
                self._cache.popitem(last=False)

    def _conversation(self, question: str, item: ScoredNode) -> list[Message]:
        if not self.model.capabilities.logprobs:
            raise ModelError(
                f"{self.model.name} does not return log-probs, so it cannot judge relevancy"
            )
        kind = "text" if item.node.kind.value == "text" else "image description"
        text = self.config.prompt.format(
            question=question, kind=kind, passage=item_text(item, self.config.max_chars)
        )
        return [Message.text("user", text)]


#: One token, with enough alternatives that "Yes" and "No" are both among them.
_OPTIONS = GenerationOptions(max_tokens=1, top_logprobs=20)


def p_yes(model: MLLM, messages: Sequence[Message]) -> float:
    """``P(Yes) / (P(Yes) + P(No))`` of the model's next token (0.5 when neither shows)."""
    if not model.capabilities.logprobs:
        raise ModelError(f"{model.name} does not return log-probs, so it cannot judge relevancy")
    return p_yes_of(model, model.generate(list(messages), _OPTIONS))


def p_yes_of(model: MLLM, generation: Generation) -> float:
    """``P(Yes) / (P(Yes) + P(No))`` read from a one-token generation's log-probs."""
    if not generation.logprobs:
        raise ModelError(f"{model.name} returned no log-probs")
    first = generation.logprobs[0]
    top = first.top or {first.token: first.logprob}
    yes = sum(math.exp(lp) for tok, lp in top.items() if tok in _YES)
    no = sum(math.exp(lp) for tok, lp in top.items() if tok in _NO)
    return yes / (yes + no) if yes + no > 0 else 0.5
