"""OpenAI-compatible chat servers: OpenAI itself, vLLM, LM Studio, llama.cpp's server.

One backend covers them all because they share ``POST /chat/completions``. Two things differ
between servers and are configured, not guessed: whether the model takes images
(``vision``; a text-only llama.cpp server answers HTTP 500 to list-of-parts content, or
silently drops it, so text-only models get plain strings) and whether it reports
log-probs. The HTTP plumbing it shares with the Ollama backend is in :mod:`mmrag.models.mllm.http`.

Example::

    llm = mllms.create(mllms.parse({"type": "openai", "model": "smollm2",
                                    "base_url": "http://127.0.0.1:8080/v1"}))
    print(llm.generate([Message.text("user", "Say hello.")]).text)
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import closing
from typing import TYPE_CHECKING, Any, Literal

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
    TokenLogprob,
    mllms,
    require_text,
)
from mmrag.models.mllm.http import HttpJsonClient, error_text, excerpt, json_object, parse_json
from mmrag.models.mllm.retry import RetryPolicy
from mmrag.registry import BackendConfig

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

DEFAULT_BASE_URL = "https://api.openai.com/v1"


class OpenAIConfig(BackendConfig):
    type: Literal["openai"] = "openai"
    model: str
    #: None: the ``OPENAI_BASE_URL`` environment variable, else OpenAI's own API.
    base_url: str | None = None
    #: The NAME of the variable holding the API key; the key itself never enters a config.
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = Field(120, gt=0)
    #: Attempts in all for transient failures (429, 5xx, read timeouts); 1 disables retries.
    retries: int = Field(3, ge=1)
    #: First pause between attempts in seconds, doubled after each.
    retry_delay: float = Field(0.5, ge=0)
    #: Whether the model takes images; text-only models get images as their summaries.
    vision: bool = False
    max_images: int = Field(8, ge=0)
    context_tokens: int = Field(8192, gt=0)
    #: Whether the server reports token log-probs (llama.cpp and vLLM do, LM Studio does not).
    logprobs: bool = True
    #: Merged into every request body last, e.g. ``{"repeat_penalty": 1.1}``.
    extra_body: dict[str, Any] = Field(default_factory=dict)


@mllms.register("openai", OpenAIConfig)
class OpenAIBackend:
    """Chat completions over HTTP; one connection pool per backend instance."""

    def __init__(self, config: OpenAIConfig) -> None:
        self.config = config
        self.base_url = (
            config.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        ).rstrip("/")
        self._http = HttpJsonClient(
            backend=self.name,
            base_url=self.base_url,
            timeout=config.timeout,
            retry=RetryPolicy(attempts=config.retries, initial_delay=config.retry_delay),
            extra="openai",
            headers=self._auth_headers,
            status_hint=self._status_hint,
        )

    @property
    def name(self) -> str:
        return f"openai:{self.config.model}"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            images=self.config.vision,
            max_images=self.config.max_images if self.config.vision else 0,
            context_tokens=self.config.context_tokens,
            logprobs=self.config.logprobs,
            concurrent=True,
        )

    def generate(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Generation:
        opts = options or GenerationOptions()
        started = time.perf_counter()
        data = self._http.post_json("/chat/completions", self._body(messages, opts, stream=False))
        generation = self._parse_completion(data, opts)
        generation.seconds = time.perf_counter() - started
        return require_text(generation, self.name)

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Iterator[str | Generation]:
        """Text deltas as the server sends them, then the finished :class:`Generation`."""
        opts = options or GenerationOptions()
        body = self._body(messages, opts, stream=True)
        started = time.perf_counter()
        parts: list[str] = []
        logprobs: list[TokenLogprob] = []
        usage: dict[str, Any] = {}
        finish: str | None = None
        done = False
        with closing(self._http.post_lines("/chat/completions", body)) as lines:
            for line in lines:
                if not line.startswith("data:"):
                    continue  # SSE comments (": ping"), event names and ids carry no text
                payload = line[len("data:") :].strip()
                if payload == "[DONE]":
                    done = True
                    break
                event = json_object(parse_json(payload, self.name), self.name)
                if "error" in event:
                    raise ModelResponseError(f"{self.name} failed mid-answer: {error_text(event)}")
                if isinstance(event.get("usage"), dict):
                    usage = event["usage"]
                for choice in event.get("choices") or []:
                    delta = choice.get("delta") or {}
                    text = delta.get("content")
                    if isinstance(text, str) and text:
                        parts.append(text)
                        yield text
                    finish = choice.get("finish_reason") or finish
                    if opts.top_logprobs:
                        logprobs.extend(self._parse_logprobs(choice.get("logprobs")))
        if not done and finish is None:
            raise ModelResponseError(
                f"{self.name}: the stream from {self.base_url} ended before the answer was "
                "complete (no finish_reason, no [DONE])"
            )
        generation = Generation(
            text="".join(parts),
            model=self.name,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            # Without usage, one content chunk is one token on every server we know.
            completion_tokens=int(usage.get("completion_tokens") or len(parts)),
            finish_reason=finish or "stop",
            seconds=time.perf_counter() - started,
            logprobs=self._checked_logprobs(logprobs, opts),
        )
        yield require_text(generation, self.name)

    def close(self) -> None:
        self._http.close()

    def _body(
        self, messages: Sequence[Message], opts: GenerationOptions, *, stream: bool
    ) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.config.model,
            "messages": self._messages_json(messages),
            "max_tokens": opts.max_tokens,
            "temperature": opts.temperature,
            "top_p": opts.top_p,
            "stream": stream,
        }
        if stream:
            body["stream_options"] = {"include_usage": True}
        if opts.stop:
            body["stop"] = list(opts.stop)
        if opts.seed is not None:
            body["seed"] = opts.seed
        if opts.top_logprobs > 0:
            if not self.config.logprobs:
                raise ModelError(
                    f"{self.name} is configured without log-probs (logprobs: false); set "
                    "logprobs: true if the server reports them, or use another model to score"
                )
            body["logprobs"] = True
            body["top_logprobs"] = opts.top_logprobs
        if opts.json_schema is not None:
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "reply", "schema": opts.json_schema},
            }
        body.update(self.config.extra_body)
        return body

    def _messages_json(self, messages: Sequence[Message]) -> list[dict[str, Any]]:
        """Plain strings unless pixels go along: text-only servers reject or drop part lists."""
        budget = self.config.max_images if self.config.vision else 0
        out: list[dict[str, Any]] = []
        for message in messages:
            if budget == 0 or not message.images:
                out.append({"role": message.role, "content": message.as_text()})
                continue
            parts: list[dict[str, Any]] = []
            for part in message.content:
                if isinstance(part, ImagePart) and budget > 0:
                    parts.append({"type": "image_url", "image_url": {"url": part.data_url()}})
                    budget -= 1
                    continue
                # Past max_images an image travels as its summary, like for text-only models.
                text = part if isinstance(part, str) else Message(message.role, [part]).as_text()
                if parts and parts[-1]["type"] == "text":
                    parts[-1]["text"] += text
                elif text:
                    parts.append({"type": "text", "text": text})
            out.append({"role": message.role, "content": parts})
        return out

    def _parse_completion(self, data: Any, opts: GenerationOptions) -> Generation:
        body = json_object(data, self.name)
        choices = body.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise ModelResponseError(
                f"{self.name} answered without 'choices': {excerpt(json.dumps(body))}"
            )
        choice = choices[0]
        message = choice.get("message")
        content = message.get("content") if isinstance(message, dict) else None
        usage = body.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        logprobs = self._parse_logprobs(choice.get("logprobs")) if opts.top_logprobs else []
        return Generation(
            text=content if isinstance(content, str) else "",
            model=self.name,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=str(choice.get("finish_reason") or "stop"),
            logprobs=self._checked_logprobs(logprobs, opts),
        )

    def _parse_logprobs(self, raw: Any) -> list[TokenLogprob]:
        """``{"content": [{"token", "logprob", "top_logprobs": [...]}, ...]}`` as OpenAI sends."""
        content = raw.get("content") if isinstance(raw, dict) else None
        if not isinstance(content, list):
            return []
        try:
            return [
                TokenLogprob(
                    token=str(item["token"]),
                    logprob=float(item["logprob"]),
                    top={
                        str(alt["token"]): float(alt["logprob"])
                        for alt in item.get("top_logprobs") or []
                    },
                )
                for item in content
            ]
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelResponseError(
                f"{self.name} sent log-probs in an unknown shape: {excerpt(json.dumps(raw))}"
            ) from exc

    def _checked_logprobs(
        self, logprobs: list[TokenLogprob], opts: GenerationOptions
    ) -> list[TokenLogprob] | None:
        """Log-probs asked for must arrive: a scorer would otherwise read nothing as certainty."""
        if not opts.top_logprobs:
            return None
        if not logprobs:
            raise ModelResponseError(
                f"{self.name} sent no log-probs although they were requested; this server "
                "does not report them: set logprobs: false for this model"
            )
        return logprobs

    def _auth_headers(self) -> dict[str, str]:
        # Read per request so a key exported after start-up (or rotated) takes effect.
        key = os.environ.get(self.config.api_key_env)
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _status_hint(self, status: int, detail: str) -> ModelError | None:
        env = self.config.api_key_env
        if status in (401, 403):
            state = "is set" if os.environ.get(env) else "is not set"
            return ModelResponseError(
                f"{self.name}: {self.base_url} refused the request (HTTP {status}: {detail}). "
                f"Put a valid API key in the environment variable {env} (it {state})."
            )
        if status == 404:
            return BackendUnavailableError(
                f"{self.name}: model '{self.config.model}' or the endpoint "
                f"{self.base_url}/chat/completions was not found (HTTP 404: {detail}). Check "
                "`model` and `base_url` (OpenAI-compatible servers usually end in /v1)."
            )
        return None
