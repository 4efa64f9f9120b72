"""Many generations at once, however the backend does it best.

A model server (vLLM, llama.cpp's server, an OpenAI-compatible API) batches requests
that arrive together, so judging ten passages as ten requests in flight costs little more
than judging one: backends that say so in :attr:`Capabilities.concurrent` get up to
``batch_size`` requests at once. A :class:`BatchGenerator` (a transformers model) runs
``batch_size`` conversations through one padded forward pass. Others (one llama.cpp
context) are called one conversation after another.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from mmrag.models.mllm.base import MLLM, BatchGenerator, Generation, GenerationOptions, Message


def generate_many(
    model: MLLM,
    conversations: Sequence[Sequence[Message]],
    options: GenerationOptions | None = None,
    *,
    batch_size: int = 1,
) -> list[Generation]:
    """One generation per conversation, in the same order.

    Concurrent requests: on the first failure the requests not yet sent are dropped, and
    it is raised once those in flight have finished, so no thread is left running behind
    the caller's back."""
    size = min(batch_size, len(conversations))
    if size <= 1:
        return [model.generate(messages, options) for messages in conversations]
    if isinstance(model, BatchGenerator):
        out: list[Generation] = []
        for start in range(0, len(conversations), size):
            out += model.generate_batch(conversations[start : start + size], options)
        return out
    if not model.capabilities.concurrent:
        return [model.generate(messages, options) for messages in conversations]
    pool = ThreadPoolExecutor(max_workers=size, thread_name_prefix="mmrag-generate")
    try:
        futures = [pool.submit(model.generate, messages, options) for messages in conversations]
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
