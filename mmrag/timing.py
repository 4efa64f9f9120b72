"""Wall-time accounting per named stage, for reports and benchmarks.

Models load lazily, on first use, so the first search or answer of a process also pays
for importing torch and reading weights. Backends mark that work with
:func:`timed_load`; callers read :func:`loading_seconds` before and after a stage and
report the difference as ``load``, so a "retrieve" figure means retrieval only.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class StageTimer:
    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def rounded(self, digits: int = 2) -> dict[str, float]:
        return {k: round(v, digits) for k, v in sorted(self.seconds.items())}


class _LoadClock(threading.local):
    """Per thread: a server answering two requests must not charge one with the
    other's model loading."""

    seconds: float = 0.0
    depth: int = 0


_clock = _LoadClock()


def loading_seconds() -> float:
    """Seconds this thread has spent loading models since it started."""
    return _clock.seconds


@contextmanager
def model_loading() -> Iterator[None]:
    """Count the enclosed time as model loading (nested loads count once)."""
    _clock.depth += 1
    started = time.perf_counter()
    try:
        yield
    finally:
        _clock.depth -= 1
        if _clock.depth == 0:
            _clock.seconds += time.perf_counter() - started


def timed_load(load: Callable[P, T]) -> Callable[P, T]:
    """Decorator for a backend's lazy loader (under ``@cached_property``)."""

    @functools.wraps(load)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        with model_loading():
            return load(*args, **kwargs)

    return wrapper


class LoadSplit:
    """Splits the wall time of consecutive stages into model loading and the rest.

    Example::

        split = LoadSplit()
        retrieve()                 # may load the embedder on first use
        split.lap("retrieve")
        split.timings()            # {"load": 4.1, "retrieve": 0.06}
    """

    def __init__(self) -> None:
        self._started = self._mark = time.perf_counter()
        self._load_mark = loading_seconds()
        self.load = 0.0
        self.stages: dict[str, float] = {}

    def lap(self, name: str) -> None:
        """End stage ``name`` now; its model loading goes to ``load``."""
        now, loaded = time.perf_counter(), loading_seconds()
        spent_loading = loaded - self._load_mark
        self.load += spent_loading
        self.stages[name] = self.stages.get(name, 0.0) + max(0.0, now - self._mark - spent_loading)
        self._mark, self._load_mark = now, loaded

    def timings(self, digits: int = 3) -> dict[str, float]:
        """``load`` first, then the stages in order, then ``total``."""
        found = {"load": self.load, **self.stages}
        found["total"] = time.perf_counter() - self._started
        return {k: round(v, digits) for k, v in found.items()}
