"""Vision-language models run in-process through Hugging Face transformers.

Any checkpoint that ``AutoModelForImageTextToText`` and ``AutoProcessor`` load works:
SmolVLM, Qwen2-VL, LLaVA, Idefics3 and others. The prompt comes from the processor's own
chat template, so each model sees its own image placeholders and turn markers.

The backend sends every image it is given: keeping a request within
``capabilities.max_images`` (and replacing the rest by their summaries) is the prompt
builder's job. Models load on first use, from the hub or a local directory; without
network access set ``HF_HUB_OFFLINE=1`` so that a missing model fails at once instead of
after the hub client's retries (about two minutes).

Example::

    vlm = mllms.create(TransformersVLMConfig(model="HuggingFaceTB/SmolVLM-256M-Instruct"))
    vlm.generate([Message("user", [ImagePart.from_pil(photo), "What is this?"])]).text
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any, Literal

from pydantic import Field

from mmrag.errors import ModelError
from mmrag.models.deps import require
from mmrag.models.mllm.base import (
    BackendUnavailableError,
    Capabilities,
    Generation,
    GenerationOptions,
    ImagePart,
    Message,
    TokenLogprob,
    mllms,
    require_text,
)
from mmrag.registry import BackendConfig

logger = logging.getLogger(__name__)

_PURPOSE = "The transformers vision-language backend"


class TransformersVLMConfig(BackendConfig):
    type: Literal["transformers"] = "transformers"
    #: A hub id (``Qwen/Qwen2-VL-2B-Instruct``) or a local directory saved by ``save_pretrained``.
    model: str
    device: str = "cpu"
    #: ``auto`` keeps the dtype the checkpoint was saved in.
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    max_images: int = Field(default=4, ge=0)
    context_tokens: int = Field(default=4096, gt=0)
    #: Run model code shipped with the checkpoint (only for models you trust).
    trust_remote_code: bool = False


@mllms.register("transformers", TransformersVLMConfig)
class TransformersVLM:
    """An MLLM backed by a transformers image-text-to-text model, loaded on first use."""

    def __init__(self, config: TransformersVLMConfig) -> None:
        self.config = config
        self._load_lock = threading.Lock()
        # One generation at a time: seeding is global and generate() is not re-entrant.
        self._run_lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    @classmethod
    def from_objects(
        cls, model: Any, processor: Any, config: TransformersVLMConfig | None = None
    ) -> TransformersVLM:
        """Wrap an already loaded model and processor (tests, notebooks, custom loading)."""
        if config is None:
            config = TransformersVLMConfig(
                model=str(getattr(model, "name_or_path", "") or "custom")
            )
        backend = cls(config)
        backend._loaded = (model.eval(), processor)
        return backend

    @property
    def name(self) -> str:
        return f"transformers:{self.config.model}"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            images=True,
            max_images=self.config.max_images,
            context_tokens=self.config.context_tokens,
            logprobs=True,
        )

    def generate(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Generation:
        options = options or GenerationOptions()
        model, processor = self._load()
        inputs = self._inputs(messages, model, processor)
        kwargs = _generate_kwargs(options, _tokenizer(processor))
        start = time.perf_counter()
        with self._run_lock:
            _seed(options)
            try:
                output = model.generate(**inputs, **kwargs)
            except Exception as exc:
                raise ModelError(f"{self.name} failed while generating: {exc}") from exc
        generation = self._finish(output, inputs, options, processor, time.perf_counter() - start)
        return require_text(generation, self.name)

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Iterator[str | Generation]:
        """Text deltas as the model writes them, then the finished :class:`Generation`.

        Generation runs in a background thread; closing the iterator early stops it.
        """
        options = options or GenerationOptions()
        model, processor = self._load()
        inputs = self._inputs(messages, model, processor)
        tokenizer = _tokenizer(processor)
        transformers = _transformers()
        streamer = transformers.TextIteratorStreamer(
            tokenizer, skip_prompt=True, skip_special_tokens=True
        )
        cancel = threading.Event()
        kwargs = _generate_kwargs(options, tokenizer)
        kwargs["stopping_criteria"] = transformers.StoppingCriteriaList(
            [_cancel_criterion(transformers, cancel)]
        )
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                with self._run_lock:
                    _seed(options)
                    result["output"] = model.generate(**inputs, **kwargs, streamer=streamer)
            except Exception as exc:
                result["error"] = exc
                streamer.end()  # wake the consumer, which would otherwise wait forever

        start = time.perf_counter()
        worker = threading.Thread(target=run, name="mmrag-vlm-stream", daemon=True)
        worker.start()
        text, emitted, stopped = "", 0, False
        try:
            for chunk in streamer:
                text += chunk
                cut = _find_stop(text, options.stop)
                stopped = cut is not None
                if cut is not None:
                    text = text[:cut]
                ready = len(text) if stopped else len(text) - _held_back(text, options.stop)
                if ready > emitted:
                    yield text[emitted:ready]
                    emitted = ready
                if stopped:
                    break
            if len(text) > emitted:  # a held-back tail that never became a stop string
                yield text[emitted:]
        finally:
            cancel.set()
        worker.join()
        if "error" in result:
            error = result["error"]
            raise ModelError(f"{self.name} failed while generating: {error}") from error
        seconds = time.perf_counter() - start
        output = result["output"]
        generation = self._finish(output, inputs, options, processor, seconds, (text, stopped))
        yield require_text(generation, self.name)

    # -- internals ------------------------------------------------------------------------

    def _load(self) -> tuple[Any, Any]:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._load_from_config()
            return self._loaded

    def _load_from_config(self) -> tuple[Any, Any]:
        transformers = _transformers()
        # Loading bars would break through mmrag's own progress display.
        transformers.utils.logging.disable_progress_bar()
        cfg = self.config
        try:
            processor = transformers.AutoProcessor.from_pretrained(
                cfg.model, trust_remote_code=cfg.trust_remote_code
            )
            model = transformers.AutoModelForImageTextToText.from_pretrained(
                cfg.model, dtype=cfg.dtype, trust_remote_code=cfg.trust_remote_code
            )
        except Exception as exc:
            raise BackendUnavailableError(
                f"could not load the vision-language model '{cfg.model}' with transformers "
                f"({exc}). Is the machine offline or the model not downloaded? Download it "
                f"(hf download {cfg.model}) or set `model` to a local directory."
            ) from exc
        logger.info("loaded %s on %s (%s)", cfg.model, cfg.device, model.dtype)
        return model.to(cfg.device).eval(), processor

    def _inputs(self, messages: Sequence[Message], model: Any, processor: Any) -> dict[str, Any]:
        conversation = [
            {"role": m.role, "content": [_part(p) for p in m.content if p != ""]} for m in messages
        ]
        images = [part.to_pil() for m in messages for part in m.images]
        try:
            prompt = processor.apply_chat_template(
                conversation, add_generation_prompt=True, tokenize=False
            )
            encoded = processor(text=prompt, images=images or None, return_tensors="pt")
        except Exception as exc:  # no chat template, a role it refuses, an unreadable image
            raise ModelError(
                f"{self.name} cannot turn these messages into model inputs with its "
                f"processor and chat template: {exc}"
            ) from exc
        return _to_model(encoded, model)

    def _finish(
        self,
        output: Any,
        inputs: dict[str, Any],
        options: GenerationOptions,
        processor: Any,
        seconds: float,
        streamed: tuple[str, bool] | None = None,
    ) -> Generation:
        """The :class:`Generation` for ``output``; ``streamed`` is (text, stopped) if known."""
        model, _ = self._load()
        tokenizer = _tokenizer(processor)
        sequences = getattr(output, "sequences", output)
        prompt_tokens = int(inputs["input_ids"].shape[1])
        # Decoder-only models echo the prompt; encoder-decoders start with a start token.
        skip = 1 if getattr(model.config, "is_encoder_decoder", False) else prompt_tokens
        new_ids: list[int] = sequences[0, skip:].tolist()
        if streamed is None:
            text = tokenizer.decode(new_ids, skip_special_tokens=True)
            cut = _find_stop(text, options.stop)
            text, stopped = (text, False) if cut is None else (text[:cut], True)
        else:
            text, stopped = streamed
        ended = bool(new_ids) and new_ids[-1] in _eos_ids(model, tokenizer)
        out_of_tokens = not (stopped or ended) and len(new_ids) >= options.max_tokens
        logprobs = None
        if options.top_logprobs > 0:
            logprobs = _logprobs(output, new_ids, tokenizer, options.top_logprobs)
        return Generation(
            text=text,
            model=self.name,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(new_ids),
            finish_reason="length" if out_of_tokens else "stop",
            seconds=seconds,
            logprobs=logprobs,
        )


def _transformers() -> ModuleType:
    require("torch", extra="transformers", purpose=_PURPOSE)
    return require("transformers", extra="transformers", purpose=_PURPOSE)


def _tokenizer(processor: Any) -> Any:
    return getattr(processor, "tokenizer", processor)


def _part(part: str | ImagePart) -> dict[str, str]:
    if isinstance(part, ImagePart):
        return {"type": "image"}
    return {"type": "text", "text": part}


def _to_model(encoded: Any, model: Any) -> dict[str, Any]:
    """Move tensors to the model's device; pixels also to its dtype, ids and masks stay ints."""
    import torch

    moved: dict[str, Any] = {}
    for key, value in dict(encoded).items():
        if isinstance(value, torch.Tensor):
            if torch.is_floating_point(value):
                value = value.to(model.device, dtype=model.dtype)
            else:
                value = value.to(model.device)
        moved[key] = value
    return moved


def _generate_kwargs(options: GenerationOptions, tokenizer: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "max_new_tokens": options.max_tokens,
        "do_sample": options.temperature > 0,
    }
    if options.temperature > 0:
        kwargs.update(temperature=options.temperature, top_p=options.top_p)
    if options.stop:
        # Stops generating early; the text is still trimmed at the first stop string.
        kwargs.update(stop_strings=list(options.stop), tokenizer=tokenizer)
    if options.top_logprobs > 0:
        # Raw logits: the model's own distribution, before temperature and top-p.
        kwargs.update(output_logits=True, return_dict_in_generate=True)
    return kwargs


def _seed(options: GenerationOptions) -> None:
    if options.seed is not None:
        import torch

        torch.manual_seed(options.seed)


def _cancel_criterion(transformers: ModuleType, cancel: threading.Event) -> Any:
    """A stopping criterion that ends generation once ``cancel`` is set."""
    import torch

    class Cancelled(transformers.StoppingCriteria):  # type: ignore[misc,name-defined]
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), cancel.is_set(), device=input_ids.device)

    return Cancelled()


def _find_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the earliest stop string begins in ``text``, if any does."""
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else None


def _held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest tail of ``text`` that could still grow into a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if stop.startswith(text[-size:]):
                longest = size
                break
    return longest


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), tokenizer):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return ids


def _logprobs(output: Any, new_ids: list[int], tokenizer: Any, top_n: int) -> list[TokenLogprob]:
    """One entry per generated text token (special tokens such as EOS are left out)."""
    import torch

    steps = getattr(output, "logits", None) or getattr(output, "scores", None) or ()
    special = set(getattr(tokenizer, "all_special_ids", ()))
    result = []
    for token_id, logits in zip(new_ids, steps, strict=False):
        if token_id in special:
            continue
        logprobs = torch.log_softmax(logits[0].float(), dim=-1)
        # Distinct token ids can decode to the same text; look a little deeper to fill top_n.
        values, ids = torch.topk(logprobs, min(logprobs.shape[-1], 2 * top_n + 4))
        top: dict[str, float] = {}
        for value, candidate in zip(values.tolist(), ids.tolist(), strict=True):
            top.setdefault(tokenizer.decode([candidate]), float(value))
            if len(top) == top_n:
                break
        result.append(
            TokenLogprob(
                token=tokenizer.decode([token_id]),
                logprob=float(logprobs[token_id]),
                top=top,
            )
        )
    return result
