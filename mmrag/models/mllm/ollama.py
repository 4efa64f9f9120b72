"""Ollama through its native ``/api/chat``: local models in one command (``ollama pull``).

The native API rather than Ollama's OpenAI-compatible one, because it takes images as plain
base64 next to the text, reports prompt and generation token counts in every answer, and
keeps a model loaded as long as ``keep_alive`` says. It reports no log-probs, so this
backend cannot score answers.

Example::

    llm = mllms.create(mllms.parse({"type": "ollama", "model": "llama3.2"}))
    print(llm.generate([Message.text("user", "Say hello.")]).text)
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from typing import Any, Literal

from pydantic import Field

from mmrag.errors import ModelError
from mmrag.models.mllm.base import (
    BackendUnavailableError,
    Capabilities,
    Generation,
    GenerationOptions,
    ImagePart,
    Message,
    ModelResponseError,
    mllms,
    require_text,
)
from mmrag.models.mllm.http import (
    HttpJsonClient,
    error_text,
    excerpt,
    json_object,
    parse_json,
)
from mmrag.models.mllm.retry import RetryPolicy
from mmrag.registry import BackendConfig

logger = logging.getLogger(__name__)

DEFAULT_HOST = "http://127.0.0.1:11434"


class OllamaConfig(BackendConfig):
    type: Literal["ollama"] = "ollama"
    #: A pulled model, e.g. ``llama3.2`` or ``qwen2.5vl:3b``.
    model: str
    #: When not given, ``OLLAMA_HOST`` (as the ollama CLI reads it), else the local default.
    base_url: str = DEFAULT_HOST
    timeout: float = Field(120, gt=0)
    #: Attempts in all for transient failures (429, 5xx, read timeouts); 1 disables retries.
    retries: int = Field(3, ge=1)
    #: First pause between attempts in seconds, doubled after each.
    retry_delay: float = Field(0.5, ge=0)
    #: Whether the model takes images; text-only models get images as their summaries.
    vision: bool = False
    max_images: int = Field(4, ge=0)
    context_tokens: int = Field(8192, gt=0)
    #: How long Ollama keeps the model loaded after a request ("5m", "1h", "-1"); None: its own.
    keep_alive: str | None = None


@mllms.register("ollama", OllamaConfig)
class OllamaBackend:
    """Chat with a model served by Ollama; one connection pool per backend instance."""

    def __init__(self, config: OllamaConfig) -> None:
        self.config = config
        self.base_url = resolve_host(config)
        self._http = HttpJsonClient(
            backend=self.name,
            base_url=self.base_url,
            timeout=config.timeout,
            retry=RetryPolicy(attempts=config.retries, initial_delay=config.retry_delay),
            extra="ollama",
            status_hint=self._status_hint,
        )

    @property
    def name(self) -> str:
        return f"ollama:{self.config.model}"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            images=self.config.vision,
            max_images=self.config.max_images if self.config.vision else 0,
            context_tokens=self.config.context_tokens,
            logprobs=False,
            concurrent=True,
        )

    def generate(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Generation:
        started = time.perf_counter()
        data = self._http.post_json("/api/chat", self._body(messages, options, stream=False))
        answer = json_object(data, self.name)
        if "error" in answer:
            raise ModelResponseError(f"{self.name} failed: {error_text(answer)}")
        message = answer.get("message")
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            raise ModelResponseError(
                f"{self.name} answered without 'message.content': {excerpt(json.dumps(answer))}"
            )
        generation = self._generation(message["content"], answer, started)
        return require_text(generation, self.name)

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Iterator[str | Generation]:
        """Text deltas as Ollama sends them (one JSON object a line), then the Generation."""
        started = time.perf_counter()
        parts: list[str] = []
        last: dict[str, Any] | None = None
        body = self._body(messages, options, stream=True)
        with closing(self._http.post_lines("/api/chat", body)) as lines:
            for line in lines:
                event = json_object(parse_json(line, self.name), self.name)
                if "error" in event:
                    raise ModelResponseError(f"{self.name} failed mid-answer: {error_text(event)}")
                message = event.get("message")
                text = message.get("content") if isinstance(message, dict) else None
                if isinstance(text, str) and text:
                    parts.append(text)
                    yield text
                if event.get("done"):
                    last = event
                    break
        if last is None:
            raise ModelResponseError(
                f"{self.name}: the stream from {self.base_url} ended before the answer was "
                "complete (no line with done: true)"
            )
        yield require_text(self._generation("".join(parts), last, started), self.name)

    def close(self) -> None:
        self._http.close()

    def _body(
        self, messages: Sequence[Message], options: GenerationOptions | None, *, stream: bool
    ) -> dict[str, Any]:
        opts = options or GenerationOptions()
        if opts.top_logprobs > 0:
            raise ModelError(
                f"{self.name} cannot report log-probs: Ollama's API has none. Score with a "
                "backend whose capabilities.logprobs is true (e.g. type: openai against "
                "llama.cpp's server)."
            )
        ollama_options: dict[str, Any] = {
            "num_predict": opts.max_tokens,
            "temperature": opts.temperature,
            "top_p": opts.top_p,
        }
        if opts.stop:
            ollama_options["stop"] = list(opts.stop)
        if opts.seed is not None:
            ollama_options["seed"] = opts.seed
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": self._messages_json(messages),
            "stream": stream,
            "options": ollama_options,
        }
        if self.config.keep_alive is not None:
            body["keep_alive"] = self.config.keep_alive
        if opts.json_schema is not None:
            body["format"] = opts.json_schema
        return body

    def _messages_json(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        """Text plus a separate base64 image list, images only for vision models."""
        budget = self.config.max_images if self.config.vision else 0
        out: list[dict[str, Any]] = []
        for message in messages:
            if budget == 0 or not message.images:
                out.append({"role": message.role, "content": message.as_text()})
                continue
            text: list[str] = []
            images: list[str] = []
            for part in message.content:
                if isinstance(part, ImagePart) and budget > 0:
                    images.append(part.base64())
                    budget -= 1
                elif isinstance(part, ImagePart):
                    # Past max_images an image travels as its summary, like for text-only models.
                    text.append(Message(message.role, [part]).as_text())
                else:
                    text.append(part)
            out.append({"role": message.role, "content": "".join(text), "images": images})
        return out

    def _generation(self, text: str, final: dict[str, Any], started: float) -> Generation:
        # eval_duration (ns) times generation alone, so tokens_per_second means decode speed.
        eval_ns = final.get("eval_duration")
        seconds = eval_ns / 1e9 if isinstance(eval_ns, int | float) and eval_ns > 0 else None
        return Generation(
            text=text,
            model=self.name,
            prompt_tokens=int(final.get("prompt_eval_count") or 0),
            completion_tokens=int(final.get("eval_count") or 0),
            finish_reason=str(final.get("done_reason") or "stop"),
            seconds=seconds if seconds is not None else time.perf_counter() - started,
        )

    def _status_hint(self, status: int, detail: str) -> ModelError | None:
        if status == 404:
            return BackendUnavailableError(
                f"{self.name}: model '{self.config.model}' was not found on the Ollama server "
                f"at {self.base_url} ({detail}). Pull it first: ollama pull {self.config.model}"
            )
        return None


def resolve_host(config: OllamaConfig) -> str:
    """The server to talk to: ``base_url`` when set in the config, else ``OLLAMA_HOST``.

    ``OLLAMA_HOST`` is written as the ollama CLI takes it (``0.0.0.0:11434``,
    ``myhost``, ``https://host``): without a scheme it means http on port 11434, and the
    listen-everywhere address 0.0.0.0 is reached at 127.0.0.1.
    """
    env = os.environ.get("OLLAMA_HOST", "").strip()
    if "base_url" in config.model_fields_set or not env:
        return config.base_url.rstrip("/")
    if "://" not in env:
        host, _, port = env.partition(":")
        env = f"http://{host or '127.0.0.1'}:{port or 11434}"
    return env.replace("//0.0.0.0", "//127.0.0.1").rstrip("/")
