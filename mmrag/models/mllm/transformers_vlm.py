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
from contextlib import contextmanager
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
    mllms,
    require_text,
)
from mmrag.models.mllm.transformers_decoding import (
    cancel_criterion,
    eos_ids,
    find_stop,
    generate_kwargs,
    held_back,
    seed,
    to_model,
    token_logprobs,
)
from mmrag.registry import BackendConfig
from mmrag.timing import timed_load

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
        output, seconds = self._run(model, inputs, options, processor)
        generation = self._finish(output, inputs, options, processor, seconds)
        return require_text(generation, self.name)

    def generate_batch(
        self, conversations: Sequence[Sequence[Message]], options: GenerationOptions | None = None
    ) -> list[Generation]:
        """One generation per conversation, text-only ones in one padded ``generate()``.

        Conversations with images go one by one: processors differ in how they batch
        images, and a wrong guess would pair a prompt with another one's pixels."""
        options = options or GenerationOptions()
        if len(conversations) <= 1 or any(m.images for c in conversations for m in c):
            return [self.generate(c, options) for c in conversations]
        model, processor = self._load()
        inputs = self._batch_inputs(conversations, model, processor)
        output, seconds = self._run(model, inputs, options, processor)
        return [
            require_text(
                self._finish(output, inputs, options, processor, seconds, row=row), self.name
            )
            for row in range(len(conversations))
        ]

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
        kwargs = generate_kwargs(options, tokenizer)
        kwargs["stopping_criteria"] = transformers.StoppingCriteriaList(
            [cancel_criterion(transformers, cancel)]
        )
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                with self._run_lock:
                    seed(options)
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
                cut = find_stop(text, options.stop)
                stopped = cut is not None
                if cut is not None:
                    text = text[:cut]
                ready = len(text) if stopped else len(text) - held_back(text, options.stop)
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

    def _run(
        self, model: Any, inputs: dict[str, Any], options: GenerationOptions, processor: Any
    ) -> tuple[Any, float]:
        """``model.generate`` on prepared inputs, one call at a time; output and seconds."""
        kwargs = generate_kwargs(options, _tokenizer(processor))
        start = time.perf_counter()
        with self._run_lock:
            seed(options)
            try:
                output = model.generate(**inputs, **kwargs)
            except Exception as exc:
                raise ModelError(f"{self.name} failed while generating: {exc}") from exc
        return output, time.perf_counter() - start

    def _load(self) -> tuple[Any, Any]:
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._load_from_config()
            return self._loaded

    @timed_load
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
        images = [part.to_pil() for m in messages for part in m.images]
        with self._input_errors():
            prompt = _prompt(messages, processor)
            encoded = processor(text=prompt, images=images or None, return_tensors="pt")
        return to_model(encoded, model)

    def _batch_inputs(
        self, conversations: Sequence[Sequence[Message]], model: Any, processor: Any
    ) -> dict[str, Any]:
        """Text-only prompts padded to one length: on the left for decoder-only models, so
        every row's next token follows its own prompt directly."""
        tokenizer = _tokenizer(processor)
        if tokenizer.pad_token is None:
            tokenizer.pad_token = tokenizer.eos_token
        side = "right" if getattr(model.config, "is_encoder_decoder", False) else "left"
        with self._input_errors():
            prompts = [_prompt(messages, processor) for messages in conversations]
            encoded = tokenizer(prompts, padding=True, padding_side=side, return_tensors="pt")
        return to_model(encoded, model)

    @contextmanager
    def _input_errors(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:  # no chat template, a role it refuses, an unreadable image
            raise ModelError(
                f"{self.name} cannot turn these messages into model inputs with its "
                f"processor and chat template: {exc}"
            ) from exc

    def _finish(
        self,
        output: Any,
        inputs: dict[str, Any],
        options: GenerationOptions,
        processor: Any,
        seconds: float,
        streamed: tuple[str, bool] | None = None,
        row: int = 0,
    ) -> Generation:
        """The :class:`Generation` for ``output`` (its ``row`` in a batch); ``streamed`` is
        (text, stopped) if known."""
        model, _ = self._load()
        tokenizer = _tokenizer(processor)
        sequences = getattr(output, "sequences", output)
        # Decoder-only models echo the (padded) prompt; encoder-decoders start with a start token.
        width = int(inputs["input_ids"].shape[1])
        skip = 1 if getattr(model.config, "is_encoder_decoder", False) else width
        mask = inputs.get("attention_mask")
        prompt_tokens = int(mask[row].sum()) if mask is not None else width
        new_ids: list[int] = sequences[row, skip:].tolist()
        ends = eos_ids(model, tokenizer)
        # In a batch, a row that ended early is padded out to the longest row.
        first_end = next((i for i, t in enumerate(new_ids) if t in ends), None)
        if first_end is not None:
            new_ids = new_ids[: first_end + 1]
        if streamed is None:
            text = tokenizer.decode(new_ids, skip_special_tokens=True)
            cut = find_stop(text, options.stop)
            text, stopped = (text, False) if cut is None else (text[:cut], True)
        else:
            text, stopped = streamed
        ended = bool(new_ids) and new_ids[-1] in ends
        out_of_tokens = not (stopped or ended) and len(new_ids) >= options.max_tokens
        logprobs = None
        if options.top_logprobs > 0:
            logprobs = token_logprobs(output, new_ids, tokenizer, options.top_logprobs, row)
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


def _prompt(messages: Sequence[Message], processor: Any) -> str:
    """The prompt text from the processor's own chat template."""
    conversation = [
        {"role": m.role, "content": [_part(p) for p in m.content if p != ""]} for m in messages
    ]
    prompt: str = processor.apply_chat_template(
        conversation, add_generation_prompt=True, tokenize=False
    )
    return prompt


def _part(part: str | ImagePart) -> dict[str, str]:
    if isinstance(part, ImagePart):
        return {"type": "image"}
    return {"type": "text", "text": part}
