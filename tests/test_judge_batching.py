"""The MLLM judge sends its uncached passages as one batch of concurrent requests to
backends that take them (servers), one after another to local models, in order."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

import numpy as np
import pytest

from mmrag.models.mllm import Capabilities, Generation, GenerationOptions, Message, TokenLogprob
from mmrag.models.mllm.base import BackendUnavailableError
from mmrag.models.mllm.batch import generate_many
from mmrag.models.relevance import Candidates
from mmrag.models.relevance.mllm_judge import MLLMJudgeConfig, MLLMJudgeScorer
from mmrag.schema import Node, NodeKind, ScoredNode


class SlowServer:
    """Answers "Yes" with the probability written in the passage ("p=0.7"), slowly, and
    counts how many requests it serves at once."""

    def __init__(self, *, concurrent: bool, fail_on: str | None = None) -> None:
        self.concurrent = concurrent
        self.fail_on = fail_on
        self.calls = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return "slow"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(logprobs=True, concurrent=self.concurrent)

    def generate(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Generation:
        with self._lock:
            self.calls += 1
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            time.sleep(0.05)
            text = messages[-1].as_text()
            if self.fail_on and self.fail_on in text:
                raise BackendUnavailableError("server went away")
            p = float(text.split("p=")[1].split()[0])
            top = {"Yes": float(np.log(p)), "No": float(np.log(1 - p))}
            return Generation("Yes", "slow", 1, 1, logprobs=[TokenLogprob("Yes", top["Yes"], top)])
        finally:
            with self._lock:
                self.in_flight -= 1

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Iterator[str | Generation]:
        yield self.generate(messages, options)


def items(*probabilities: float) -> list[ScoredNode]:
    return [
        ScoredNode(
            Node(id=f"n{i}", kind=NodeKind.TEXT, doc_id="d", source="/d/a.txt", text=f"p={p} x"),
            0.5,
        )
        for i, p in enumerate(probabilities)
    ]


PROBABILITIES = (0.9, 0.1, 0.6, 0.3, 0.8, 0.2, 0.7, 0.4)


def test_a_server_judges_several_passages_at_once_in_order() -> None:
    server = SlowServer(concurrent=True)
    judge = MLLMJudgeScorer(MLLMJudgeConfig(batch_size=4), model=server)
    scores = judge.score(Candidates(query="q"), items(*PROBABILITIES))
    assert scores == pytest.approx(PROBABILITIES)
    assert 2 <= server.most_in_flight <= 4
    assert server.calls == len(PROBABILITIES)


def test_a_local_model_judges_one_passage_after_another() -> None:
    local = SlowServer(concurrent=False)
    judge = MLLMJudgeScorer(MLLMJudgeConfig(batch_size=4), model=local)
    assert judge.score(Candidates(query="q"), items(*PROBABILITIES)) == pytest.approx(PROBABILITIES)
    assert local.most_in_flight == 1


def test_only_uncached_passages_are_sent_again() -> None:
    server = SlowServer(concurrent=True)
    judge = MLLMJudgeScorer(MLLMJudgeConfig(), model=server)
    judge.score(Candidates(query="q"), items(0.9, 0.1))
    assert judge.score(Candidates(query="q"), items(0.9, 0.1, 0.6)) == pytest.approx(
        [0.9, 0.1, 0.6]
    )
    assert server.calls == 3
    judge.score(Candidates(query="another question"), items(0.9))
    assert server.calls == 4  # the cache is per question


def test_a_failed_request_fails_the_batch_and_caches_nothing() -> None:
    server = SlowServer(concurrent=True, fail_on="p=0.3")
    judge = MLLMJudgeScorer(MLLMJudgeConfig(batch_size=2), model=server)
    with pytest.raises(BackendUnavailableError, match="went away"):
        judge.score(Candidates(query="q"), items(*PROBABILITIES))
    assert server.in_flight == 0  # nothing left running behind the caller
    assert server.calls < len(PROBABILITIES)  # the requests not yet sent were dropped
    server.fail_on = None
    before = server.calls
    assert judge.score(Candidates(query="q"), items(*PROBABILITIES)) == pytest.approx(PROBABILITIES)
    assert server.calls - before == len(PROBABILITIES)


def test_generate_many_keeps_order_and_handles_empty_input() -> None:
    server = SlowServer(concurrent=True)
    conversations = [[Message.text("user", f"p={p} x")] for p in PROBABILITIES]
    out = generate_many(server, conversations, batch_size=8)
    assert [round(float(np.exp(g.logprobs[0].logprob)), 3) for g in out if g.logprobs] == list(
        PROBABILITIES
    )
    assert generate_many(server, [], batch_size=8) == []
