"""The Ollama backend against a local stand-in that speaks Ollama's documented /api/chat.

No Ollama server can be installed here, so ``tests.http_stub`` plays one: a non-streamed
answer is one JSON object, a streamed one is NDJSON whose last line has ``done: true`` and
the token counts.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mmrag.errors import ModelError
from mmrag.models.mllm.base import (
    BackendUnavailableError,
    Generation,
    GenerationOptions,
    ImagePart,
    Message,
    ModelResponseError,
    mllms,
)
from mmrag.models.mllm.ollama import OllamaBackend, OllamaConfig, resolve_host
from tests.http_stub import Reply, StubServer, free_port

CHAT = "/api/chat"
RED_PNG = ImagePart(b"\x89PNG fake bytes", "image/png", summary="a red square")


def backend(base_url: str, **overrides: Any) -> OllamaBackend:
    settings: dict[str, Any] = {"model": "llava", "base_url": base_url, "retry_delay": 0.0}
    settings.update(overrides)
    return OllamaBackend(OllamaConfig(**settings))


def ask(text: str = "Say hello.") -> list[Message]:
    return [Message.text("user", text)]


def answer(content: str = "Hello there.", **extra: Any) -> dict[str, Any]:
    """A non-streamed /api/chat answer as Ollama documents it."""
    return {
        "model": "llava",
        "created_at": "2025-01-01T00:00:00Z",
        "message": {"role": "assistant", "content": content},
        "done": True,
        "done_reason": "stop",
        "total_duration": 5_191_566_416,
        "load_duration": 2_154_458,
        "prompt_eval_count": 26,
        "prompt_eval_duration": 383_809_000,
        "eval_count": 4,
        "eval_duration": 2_000_000_000,
    } | extra


def ndjson(*texts: str, final: dict[str, Any] | None = None) -> list[str]:
    """A streamed answer: one line per delta, then the closing line with the counts."""
    lines = [
        {"model": "llava", "message": {"role": "assistant", "content": t}, "done": False}
        for t in texts
    ]
    lines.append(final if final is not None else answer("", done_reason="length", eval_count=3))
    return [json.dumps(line) + "\n" for line in lines]


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


def test_generate_reads_text_and_counts(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(body=answer()))
    llm = backend(stub.url, keep_alive="10m")
    options = GenerationOptions(max_tokens=9, temperature=0.3, top_p=0.8, stop=("\n",), seed=5)
    generation = llm.generate(ask(), options)
    assert generation.text == "Hello there." and generation.model == "ollama:llava"
    assert (generation.prompt_tokens, generation.completion_tokens) == (26, 4)
    assert generation.finish_reason == "stop"
    assert generation.seconds == pytest.approx(2.0)  # eval_duration: decode time alone
    assert generation.tokens_per_second == pytest.approx(2.0)
    body = stub.requests[0].json()
    assert body["model"] == "llava" and body["stream"] is False and body["keep_alive"] == "10m"
    assert body["messages"] == [{"role": "user", "content": "Say hello."}]
    assert body["options"] == {
        "num_predict": 9,
        "temperature": 0.3,
        "top_p": 0.8,
        "stop": ["\n"],
        "seed": 5,
    }


def test_stream_yields_deltas_then_the_generation(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(chunks=ndjson("Hel", "lo", "!")))
    *deltas, final = backend(stub.url).stream(ask())
    assert deltas == ["Hel", "lo", "!"]
    assert isinstance(final, Generation)
    assert final.text == "".join(str(d) for d in deltas)
    assert (final.prompt_tokens, final.completion_tokens, final.finish_reason) == (26, 3, "length")
    body = stub.requests[0].json()
    assert body["stream"] is True and "keep_alive" not in body


def test_vision_model_gets_base64_images(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(body=answer()))
    message = Message("user", ["Compare ", RED_PNG, " with ", RED_PNG])
    backend(stub.url, vision=True, max_images=1).generate([Message.text("system", "Hi"), message])
    system, user = stub.requests[0].json()["messages"]
    assert system == {"role": "system", "content": "Hi"}
    assert user["images"] == [base64.b64encode(RED_PNG.data).decode()]
    # Past max_images the second image goes as its summary.
    assert user["content"] == "Compare  with [image: a red square]"


def test_text_only_model_gets_summaries_and_no_images(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(body=answer()))
    llm = backend(stub.url, vision=False)
    llm.generate([Message("user", ["Describe ", RED_PNG])])
    assert stub.requests[0].json()["messages"] == [
        {"role": "user", "content": "Describe [image: a red square]"}
    ]
    assert (llm.capabilities.images, llm.capabilities.max_images) == (False, 0)


def test_missing_model_suggests_ollama_pull(stub: StubServer) -> None:
    missing = Reply(404, {"error": 'model "llava" not found, try pulling it first'})
    stub.route("POST", CHAT, missing)
    with pytest.raises(BackendUnavailableError, match="ollama pull llava") as err:
        backend(stub.url).generate(ask())
    assert "not found" in str(err.value)
    with pytest.raises(BackendUnavailableError, match="ollama pull llava"):
        list(backend(stub.url).stream(ask()))


@pytest.mark.parametrize(
    ("chunks", "match"),
    [
        (['{"message": {"content": "Hi"}, "done": false}\n', "{oops\n"], "malformed JSON"),
        (ndjson("Hi")[:1], "ended before the answer was complete"),
        ([json.dumps({"error": "model runner has unexpectedly stopped"}) + "\n"], "unexpectedly"),
        (ndjson(final=answer("")), "empty completion"),
    ],
)
def test_broken_streams_raise(stub: StubServer, chunks: list[str], match: str) -> None:
    stub.route("POST", CHAT, Reply(chunks=chunks))
    with pytest.raises(ModelResponseError, match=match):
        list(backend(stub.url).stream(ask()))


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (Reply(body="not json at all"), "malformed JSON: not json at all"),
        (Reply(body={"done": True}), "without 'message.content'"),
        (Reply(body=answer("")), "empty completion"),
    ],
)
def test_bad_answers_raise(stub: StubServer, reply: Reply, match: str) -> None:
    stub.route("POST", CHAT, reply)
    with pytest.raises(ModelResponseError, match=match):
        backend(stub.url).generate(ask())


def test_busy_server_is_retried(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(503, {"error": "server busy"}), Reply(body=answer("Done.")))
    assert backend(stub.url).generate(ask()).text == "Done."
    stub.route("POST", CHAT, Reply(500, {"error": "out of memory"}))
    with pytest.raises(ModelResponseError, match=r"HTTP 500 after 2 attempt.*out of memory"):
        backend(stub.url, retries=2).generate(ask())


def test_server_down_fails_fast() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="down or unreachable") as err:
        backend(url).generate(ask())
    assert url in str(err.value) and time.monotonic() - started < 2


def test_logprobs_are_refused_before_any_request(stub: StubServer) -> None:
    llm = backend(stub.url)
    assert llm.capabilities.logprobs is False
    with pytest.raises(ModelError, match="log-probs"):
        llm.generate(ask(), GenerationOptions(top_logprobs=2))
    with pytest.raises(ModelError, match="log-probs"):
        next(iter(llm.stream(ask(), GenerationOptions(top_logprobs=2))))
    assert stub.requests == []


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ("", "http://127.0.0.1:11434"),
        ("0.0.0.0:11434", "http://127.0.0.1:11434"),
        ("gpu-box", "http://gpu-box:11434"),
        ("gpu-box:8080", "http://gpu-box:8080"),
        ("https://ollama.example.com/", "https://ollama.example.com"),
    ],
)
def test_ollama_host_applies_when_base_url_is_not_set(
    monkeypatch: pytest.MonkeyPatch, env: str, expected: str
) -> None:
    monkeypatch.setenv("OLLAMA_HOST", env)
    assert resolve_host(OllamaConfig(model="m")) == expected
    explicit = OllamaConfig(model="m", base_url="http://127.0.0.1:9999")
    assert resolve_host(explicit) == "http://127.0.0.1:9999"


def test_registered_with_its_config() -> None:
    config = mllms.parse({"type": "ollama", "model": "qwen2.5vl:3b", "vision": True})
    assert isinstance(config, OllamaConfig)
    llm = mllms.create(config)
    assert isinstance(llm, OllamaBackend) and llm.name == "ollama:qwen2.5vl:3b"
    caps = llm.capabilities
    assert (caps.images, caps.max_images, caps.context_tokens) == (True, 4, 8192)


@pytest.mark.parametrize("vision", [False, True])
def test_contract(stub: StubServer, vision: bool) -> None:
    from tests.mllm_contract import check_mllm_contract

    stub.route(
        "POST",
        CHAT,
        Reply(body=answer()),
        Reply(chunks=ndjson("Hel", "lo", "!")),
        Reply(body=answer()),
    )
    check_mllm_contract(backend(stub.url, vision=vision))
    sent = [r.json() for r in stub.requests_to(CHAT)]
    image_request = sent[2]["messages"][0]
    assert ("images" in image_request) is vision
    if not vision:
        assert "a sign saying HELLO" in image_request["content"]
