"""Retries with exponential backoff for transient failures of model servers."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")


class TransientError(Exception):
    """A failure worth retrying (connection reset, 429, 502/503/504, timeout)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0

    def run(self, call: Callable[[], T], *, what: str) -> T:
        """``call()``, retried on :class:`TransientError`; the last error propagates."""
        delay = self.initial_delay
        for attempt in range(1, self.attempts + 1):
            try:
                return call()
            except TransientError as exc:
                if attempt == self.attempts:
                    raise
                sleep = min(self.max_delay, delay) * (0.5 + random.random() / 2)
                logger.warning(
                    "%s failed (%s); retry %d/%d in %.1fs",
                    what,
                    exc,
                    attempt,
                    self.attempts - 1,
                    sleep,
                )
                time.sleep(sleep)
                delay *= 2
        raise AssertionError("unreachable")
