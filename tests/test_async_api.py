"""RAG's asyncio verbs: same results as the blocking ones, and the event loop stays free."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from mmrag import RAG
from mmrag.aio import iterate_blocking
from mmrag.errors import ModelError
from mmrag.models.mllm import Generation, GenerationOptions, Message
from mmrag.schema import Answer
from tests.test_generate import Scripted


@pytest.fixture
def rag(fast_rag: RAG, make_corpus: Callable[..., Path]) -> RAG:
    fast_rag.ingest([make_corpus()])
    fast_rag.components.generator = Scripted("Axolotls regrow their limbs [1].")  # type: ignore[misc]
    return fast_rag


async def _ticks_while(work: Callable[[], Any], period: float = 0.02) -> tuple[Any, float]:
    """Run ``work()`` (a coroutine) beside a ticker; the longest gap between its ticks."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(period)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(period * 3)  # the ticker runs before the work starts
    try:
        result = await work()
    finally:
        done.set()
        await tick
    return result, max(gaps, default=0.0)


def _slow(func: Callable[..., Any], seconds: float) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        time.sleep(seconds)  # blocking, as model inference is
        return func(*args, **kwargs)

    return wrapper


def test_asearch_matches_search(rag: RAG) -> None:
    expected = [(h.node.id, h.score) for h in rag.search("axolotl limbs", k=3)]
    found = asyncio.run(rag.asearch("axolotl limbs", k=3))
    assert [(h.node.id, h.score) for h in found] == expected
    assert "Axolotls" in found[0].node.text


def test_asearch_leaves_the_loop_free(rag: RAG, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rag.retriever, "retrieve", _slow(rag.retriever.retrieve, 0.6))
    hits, longest_gap = asyncio.run(_ticks_while(lambda: rag.asearch("axolotl", k=1)))
    assert hits and "Axolotls" in hits[0].node.text
    # Run on the loop, the 0.6 s of blocking work would stall the ticker for 0.6 s.
    assert longest_gap < 0.3


def test_aask_answers_with_citations(rag: RAG, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rag.retriever, "retrieve", _slow(rag.retriever.retrieve, 0.4))
    answer, longest_gap = asyncio.run(_ticks_while(lambda: rag.aask("What do axolotls regrow?")))
    assert answer.answerable and answer.citations
    assert answer.citations[0].node.source.endswith("notes.txt")
    assert longest_gap < 0.25


def test_aprompt_retrieves_without_generating(rag: RAG) -> None:
    generator = rag.components.generator
    assert isinstance(generator, Scripted)
    prompt = asyncio.run(rag.aprompt("What do axolotls regrow?"))
    assert any("Axolotls" in item.node.text for item in prompt.context)
    assert generator.seen == []


def test_aask_stream_yields_pieces_then_the_answer(rag: RAG) -> None:
    async def collect() -> list[str | Answer]:
        return [item async for item in rag.aask_stream("What do axolotls regrow?")]

    items = asyncio.run(collect())
    assert all(isinstance(i, str) for i in items[:-1]) and len(items) > 2
    final = items[-1]
    assert isinstance(final, Answer) and final.answerable
    pieces = "".join(str(i) for i in items[:-1])
    assert pieces.split() == ["Axolotls", "regrow", "their", "limbs", "[1]."]


class _LockedStream(Scripted):
    """Holds a lock for the whole stream, as llama.cpp does, and writes slowly."""

    def __init__(self) -> None:
        super().__init__("one two three four five six seven eight")
        self.lock = threading.Lock()
        self.threads: set[int] = set()
        self.released_in: int | None = None

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Iterator[str | Generation]:
        try:
            with self.lock:
                for word in self.reply.split():
                    self.threads.add(threading.get_ident())
                    time.sleep(0.05)
                    yield word + " "
                yield Generation(text=self.reply, model="locked")
        finally:
            self.released_in = threading.get_ident()


def test_leaving_a_stream_early_frees_the_model(rag: RAG) -> None:
    model = _LockedStream()
    rag.components.generator = model  # type: ignore[misc]

    async def first_two() -> list[str | Answer]:
        got = []
        async for item in rag.aask_stream("What do axolotls regrow?"):
            got.append(item)
            if len(got) == 2:
                break
        return got

    assert len(asyncio.run(first_two())) == 2
    # The abandoned stream is closed in the thread that ran it: the lock is released
    # where it was taken, and no model code runs on the event loop's thread.
    assert model.lock.acquire(timeout=3), "the stream still holds the model's lock"
    model.lock.release()
    assert len(model.threads) == 1
    assert model.released_in in model.threads
    assert model.released_in != threading.get_ident()  # never on the event loop's thread


def test_errors_in_a_stream_reach_the_consumer() -> None:
    def failing() -> Iterator[str]:
        yield "partial"
        raise ModelError("the model server went away")

    async def consume() -> list[str]:
        return [item async for item in iterate_blocking(failing)]

    with pytest.raises(ModelError, match="went away"):
        asyncio.run(consume())


def test_aingest(fast_rag: RAG, make_corpus: Callable[..., Path]) -> None:
    report = asyncio.run(fast_rag.aingest([make_corpus()]))
    assert report.ingested >= 4 and not report.failed
    assert fast_rag.search("quokka Rottnest", k=1)[0].node.source.endswith("guide.md")
