"""From messages to a transformers ``generate()`` call and back: keyword arguments, stop
strings, end-of-sequence ids, per-token log-probabilities (of any row of a batch).

Kept apart from :mod:`~mmrag.models.mllm.transformers_vlm` (loading, prompting, the
backend's methods) because none of it depends on which model is loaded.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import ModuleType
from typing import Any

from mmrag.models.mllm.base import GenerationOptions, TokenLogprob


def to_model(encoded: Any, model: Any) -> dict[str, Any]:
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


def generate_kwargs(options: GenerationOptions, tokenizer: Any) -> dict[str, Any]:
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


def seed(options: GenerationOptions) -> None:
    if options.seed is not None:
        import torch

        torch.manual_seed(options.seed)


def cancel_criterion(transformers: ModuleType, cancel: threading.Event) -> Any:
    """A stopping criterion that ends generation once ``cancel`` is set."""
    import torch

    class Cancelled(transformers.StoppingCriteria):  # type: ignore[misc,name-defined]
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            return torch.full((input_ids.shape[0],), cancel.is_set(), device=input_ids.device)

    return Cancelled()


def find_stop(text: str, stops: Sequence[str]) -> int | None:
    """Where the earliest stop string begins in ``text``, if any does."""
    found = [i for i in (text.find(s) for s in stops if s) if i >= 0]
    return min(found) if found else None


def held_back(text: str, stops: Sequence[str]) -> int:
    """Length of the longest tail of ``text`` that could still grow into a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if stop.startswith(text[-size:]):
                longest = size
                break
    return longest


def eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for source in (getattr(model, "generation_config", None), tokenizer):
        value = getattr(source, "eos_token_id", None)
        if isinstance(value, int):
            ids.add(value)
        elif isinstance(value, list | tuple):
            ids.update(int(v) for v in value)
    return ids


def token_logprobs(
    output: Any, new_ids: list[int], tokenizer: Any, top_n: int, row: int = 0
) -> list[TokenLogprob]:
    """One entry per generated text token of the batch's ``row`` (special tokens such as
    EOS are left out)."""
    import torch

    steps = getattr(output, "logits", None) or getattr(output, "scores", None) or ()
    special = set(getattr(tokenizer, "all_special_ids", ()))
    result = []
    for token_id, logits in zip(new_ids, steps, strict=False):
        if token_id in special:
            continue
        logprobs = torch.log_softmax(logits[row].float(), dim=-1)
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
