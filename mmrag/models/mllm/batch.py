"""Many generations at once: concurrent requests where the backend can take them.

A model server (vLLM, llama.cpp's server, an OpenAI-compatible API) batches requests
that arrive together, so judging ten passages as ten requests in flight costs little more
than judging one. Backends that say so in :attr:`Capabilities.concurrent` get up to
``concurrency`` requests at once; local models (one llama.cpp context, one torch model)
are called one after another.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from mmrag.models.mllm.base import MLLM, Generation, GenerationOptions, Message


def generate_many(
    model: MLLM,
    conversations: Sequence[Sequence[Message]],
    options: GenerationOptions | None = None,
    *,
    concurrency: int = 1,
) -> list[Generation]:
    """One generation per conversation, in the same order.

    On the first failure the requests not yet sent are dropped, and it is raised once
    those in flight have finished: no thread is left running behind the caller's back."""
    workers = min(concurrency, len(conversations))
    if workers <= 1 or not model.capabilities.concurrent:
        return [model.generate(messages, options) for messages in conversations]
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mmrag-generate")
    try:
        futures = [pool.submit(model.generate, messages, options) for messages in conversations]
        return [future.result() for future in futures]
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
