"""`mmrag ask` through the real CLI and a real HTTP model server on 127.0.0.1: a rejected
draft is never shown as the answer, and the refusal is the last thing printed."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mmrag.cli import app
from mmrag.generate.templates import REFUSAL
from tests.http_stub import Reply, Request, StubServer

runner = CliRunner()
CHAT = "/v1/chat/completions"
PASSWD = """\
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
irc:x:39:39:ircd:/run/ircd:/usr/sbin/nologin
gnats:x:41:41:Gnats Bug-Reporting System (admin):/var/lib/gnats:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
"""
QUESTION = "What is the user ID of the nobody user?"
WRONG = "The user ID of the nobody user is 41 [1]."


def replying(text: str) -> Callable[[Request], Reply]:
    """An OpenAI-compatible server that says ``text``: streamed (a few characters per SSE
    event) when asked to stream, else as one JSON completion."""

    def reply(request: Request) -> Reply:
        if request.json().get("stream"):
            return streamed(text)
        choice = {"index": 0, "message": {"role": "assistant", "content": text}}
        usage = {"prompt_tokens": 40, "completion_tokens": 12}
        return Reply(body={"choices": [choice | {"finish_reason": "stop"}], "usage": usage})

    return reply


def streamed(text: str) -> Reply:
    events: list[dict[str, Any] | str] = [
        {"choices": [{"index": 0, "delta": {"content": text[i : i + 7]}, "finish_reason": None}]}
        for i in range(0, len(text), 7)
    ]
    events += [
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]},
        {"choices": [], "usage": {"prompt_tokens": 40, "completion_tokens": 12}},
        "[DONE]",
    ]
    return Reply(
        chunks=[f"data: {e if isinstance(e, str) else json.dumps(e)}\r\n\r\n" for e in events]
    )


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        yield server


@pytest.fixture
def store(tmp_path: Path, stub: StubServer) -> tuple[str, Path]:
    pipeline = tmp_path / "stub.yaml"
    pipeline.write_text(
        "text_embedder: {type: hashing, dim: 64, max_tokens: 64}\n"
        "image_embedder: null\nocr: null\nsummarizer: null\n"
        f"generator: {{type: openai, model: m, base_url: '{stub.url}/v1', retries: 1}}\n"
        "generation: {support_check: claims}\n",
        encoding="utf-8",
    )
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "passwd.txt").write_text(PASSWD, encoding="utf-8")
    where = str(tmp_path / "store")
    result = runner.invoke(app, ["ingest", str(docs), "-s", where, "-p", str(pipeline)])
    assert result.exit_code == 0, result.output
    return where, pipeline


def ask(store: tuple[str, Path], *extra: str) -> str:
    where, pipeline = store
    result = runner.invoke(app, ["ask", QUESTION, "-s", where, "-p", str(pipeline), *extra])
    assert result.exit_code == 0, result.output
    return result.stdout


def test_a_rejected_draft_ends_with_the_refusal(store: tuple[str, Path], stub: StubServer) -> None:
    stub.route("POST", CHAT, replying(WRONG))
    shown = ask(store)
    assert shown.rstrip().endswith(REFUSAL)
    verdict = " ".join(shown.rstrip().removesuffix(REFUSAL).split()[-14:])
    assert (
        "✗ Rejected: not supported by the sources — '41' does not appear beside 'nobody'" in verdict
    )
    # The draft appears once, and only under the label that says it was rejected.
    assert shown.count("is 41") == 1
    assert shown.index("rejected, not an answer") < shown.index("is 41")
    assert "Sources" not in shown


def test_show_sources_keeps_the_refusal_last(store: tuple[str, Path], stub: StubServer) -> None:
    stub.route("POST", CHAT, replying(WRONG))
    shown = ask(store, "--show-sources")
    assert "Sources" in shown and "passwd.txt" in shown
    assert shown.rstrip().endswith(REFUSAL)
    assert shown.index("Sources") < shown.index("✗ Rejected")


def test_an_accepted_answer_is_shown_with_its_sources(
    store: tuple[str, Path], stub: StubServer
) -> None:
    stub.route("POST", CHAT, replying("The nobody user has ID 65534 [1]."))
    shown = ask(store)
    assert "65534 [1]" in shown and "Sources" in shown
    assert "Rejected" not in shown and REFUSAL not in shown
    assert shown.count("65534 [1]") == 1  # the streamed draft is not printed twice


def test_json_keeps_the_draft_and_the_reason(store: tuple[str, Path], stub: StubServer) -> None:
    stub.route("POST", CHAT, replying(WRONG))
    data = json.loads(ask(store, "--json"))
    assert data["answerable"] is False and data["answer"] == REFUSAL
    assert data["raw_text"] == WRONG and "41" in data["rejection"]
    assert data["extractive"] is False and data["citations"] == []
