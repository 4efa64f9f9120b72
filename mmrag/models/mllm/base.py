"""The MLLM seam: generate text from messages that mix text and images.

Every backend (llama.cpp, OpenAI-compatible servers, Ollama, transformers VLMs) takes
the same :class:`Message` list and :class:`GenerationOptions`, and reports what it can
take in :class:`Capabilities`; the prompt builder reads those to decide whether an image
goes in as pixels or as its text summary.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

from PIL import Image

from mmrag.errors import ModelError
from mmrag.registry import Registry

Role = Literal["system", "user", "assistant"]


class BackendUnavailableError(ModelError):
    """The model server cannot be reached, or the model is not there."""


class ModelResponseError(ModelError):
    """The backend answered, but with an error, malformed data or nothing at all."""


@dataclass(frozen=True, slots=True)
class ImagePart:
    """An image inside a message: encoded bytes, plus the text that stands in for it."""

    data: bytes
    mime: str = "image/png"
    #: What a text-only model reads instead (OCR text, tags, caption).
    summary: str = ""

    @classmethod
    def from_pil(cls, image: Image.Image, *, summary: str = "", fmt: str = "PNG") -> ImagePart:
        buf = io.BytesIO()
        image.convert("RGB").save(buf, format=fmt)
        return cls(buf.getvalue(), f"image/{fmt.lower()}", summary)

    def to_pil(self) -> Image.Image:
        return Image.open(io.BytesIO(self.data)).convert("RGB")

    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{self.base64()}"


Content = str | ImagePart


@dataclass(slots=True)
class Message:
    role: Role
    content: list[Content] = field(default_factory=list)

    @classmethod
    def text(cls, role: Role, text: str) -> Message:
        return cls(role, [text])

    @property
    def images(self) -> list[ImagePart]:
        return [part for part in self.content if isinstance(part, ImagePart)]

    def as_text(self) -> str:
        """The message for a text-only model: images replaced by their summaries."""
        parts = []
        for part in self.content:
            if isinstance(part, ImagePart):
                parts.append(f"[image: {part.summary}]" if part.summary else "[image]")
            else:
                parts.append(part)
        return "".join(parts)


@dataclass(frozen=True, slots=True)
class GenerationOptions:
    max_tokens: int = 512
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    #: Alternatives to report per generated token (0: no log-probs).
    top_logprobs: int = 0
    #: Constrain the reply to JSON matching this schema, where the backend can (llama.cpp
    #: grammars, OpenAI-compatible response_format, Ollama's format); others ignore it.
    json_schema: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class TokenLogprob:
    token: str
    logprob: float
    #: The most likely alternatives at this position, token -> log-probability.
    top: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class Generation:
    text: str
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str = "stop"
    seconds: float = 0.0
    logprobs: list[TokenLogprob] | None = None

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a backend accepts; the prompt builder respects it."""

    images: bool = False
    #: Most images per request (extra images fall back to their summaries).
    max_images: int = 0
    context_tokens: int = 2048
    logprobs: bool = False
    #: Safe to call from several threads at once, and worth it: a server batches the
    #: requests that arrive together (see :mod:`~mmrag.models.mllm.batch`).
    concurrent: bool = False


@runtime_checkable
class MLLM(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def capabilities(self) -> Capabilities: ...

    def generate(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Generation: ...

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Iterator[str | Generation]:
        """Text deltas as they come, then the finished :class:`Generation` as the last item."""
        ...


@runtime_checkable
class BatchGenerator(Protocol):
    """Backends that generate for several conversations in one pass (a padded batch)."""

    def generate_batch(
        self, conversations: Sequence[Sequence[Message]], options: GenerationOptions | None = None
    ) -> list[Generation]: ...


@runtime_checkable
class ContinuationScorer(Protocol):
    """Backends that can score a given answer: log P(continuation | messages).

    Used to score multiple-choice options by likelihood instead of free generation.
    """

    def continuation_logprob(self, messages: Sequence[Message], continuation: str) -> float: ...


mllms: Registry[MLLM] = Registry("mllms")


def require_text(generation: Generation, backend: str) -> Generation:
    """Refuse an empty completion: callers would otherwise show a blank answer."""
    if not generation.text.strip():
        raise ModelResponseError(f"{backend} returned an empty completion")
    return generation
