"""Running mmrag's blocking work from asyncio code without blocking the event loop.

Retrieval, model inference and LanceDB reads are blocking calls. An asyncio application
(a web server, a bot) that made them directly would freeze every other task until they
returned, so the async API runs them in worker threads:

- :func:`run_blocking` runs one call in the loop's default executor.
- :func:`iterate_blocking` drives a blocking iterator (a streamed answer) in one worker
  thread and hands its items to the loop as they come.

Example::

    hits = await run_blocking(rag.search, "revenue chart", k=5)
    async for piece in iterate_blocking(lambda: rag.ask_stream("Who is the CEO?")):
        print(piece)
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

#: How many items a producer thread may run ahead of a slow consumer.
_BUFFER = 64


async def run_blocking(func: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``func(*args, **kwargs)`` in a worker thread; the loop keeps serving other tasks."""
    return await asyncio.to_thread(func, *args, **kwargs)


class _End:
    """Marks the end of the stream (or carries the exception that ended it)."""

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


async def iterate_blocking(make: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """The items of the iterator ``make()`` returns, produced in one worker thread.

    The iterator is created, advanced and closed in the same thread, because some
    backends hold a lock for the whole of a stream (llama.cpp) and a lock must be
    released where it was taken. When the consumer stops early (a client disconnects,
    a task is cancelled) the producer stops at its next item and closes the iterator,
    so the lock and the model are free for the next request.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[T | _End] = asyncio.Queue(maxsize=_BUFFER)
    stop = threading.Event()

    def put(item: T | _End) -> None:
        # Waits for room in the queue, so a slow consumer slows the producer down
        # instead of letting it buffer a whole answer; gives up when told to stop.
        while not stop.is_set():
            future = asyncio.run_coroutine_threadsafe(queue.put(item), loop)
            try:
                future.result(timeout=0.5)
                return
            except TimeoutError:
                future.cancel()
            except (RuntimeError, asyncio.CancelledError):  # loop closed or put cancelled
                return

    def produce() -> None:
        try:
            iterator = make()
        except BaseException as exc:  # handed to the consumer, who re-raises it
            put(_End(exc))
            return
        try:
            for item in iterator:
                if stop.is_set():
                    break
                put(item)
        except BaseException as exc:
            put(_End(exc))
            return
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    close()
        put(_End())

    worker = loop.run_in_executor(None, produce)
    try:
        while True:
            item = await queue.get()
            if isinstance(item, _End):
                if item.error is not None:
                    raise item.error
                return
            yield item
    finally:
        stop.set()
        # Unblock a producer waiting for room, then let it finish closing the iterator
        # without making the consumer wait for the current model step.
        while not queue.empty():
            queue.get_nowait()
        worker.add_done_callback(_retrieve_result)


def _retrieve_result(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()  # retrieved, so asyncio does not warn about it
