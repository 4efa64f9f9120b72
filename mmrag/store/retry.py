"""Retrying LanceDB commits that lost a race with another writer.

LanceDB commits optimistically: two processes writing one table both prepare a new
version, and the second to commit gets a "commit conflict" when the first one's change
overlaps its own (an index build preempted by a compaction, two deletes of the same rows,
two inserts of the same primary key, a write based on a version that a racing create
replaced). Both changes are valid; the loser only has to try again on top of the
winner's version, so every retry first reloads the table at its latest version. Every
write mmrag makes is idempotent, so retrying the whole operation is always safe.

A file lock would serialise writers on a local disk but not on object storage, where
several machines share a store; retrying is what works on both.
"""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Callable
from typing import TypeVar

from mmrag.errors import StoreError

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: How LanceDB (lance) words a lost race, across its Python and Rust error types.
_CONFLICT = re.compile(
    r"commit conflict|preempted by concurrent|conflicting transaction|"
    r"concurrent writer|was concurrently|please retry|incompatible transaction",
    re.IGNORECASE,
)

#: Attempts and backoff: about 16 s of waiting in all (at most 25 s) before giving up.
ATTEMPTS = 10
BASE_DELAY_S = 0.05
MAX_DELAY_S = 5.0


def is_conflict(exc: BaseException) -> bool:
    """Did this error come from losing a commit race (as opposed to a real failure)?"""
    return _CONFLICT.search(str(exc)) is not None


def retry_conflicts(
    action: Callable[[], T],
    *,
    what: str,
    attempts: int = ATTEMPTS,
    on_retry: Callable[[], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run ``action``; on a commit conflict, back off (exponential, jittered) and rerun it.

    ``on_retry`` runs before each new attempt (e.g. to reload a table at its latest
    version). After ``attempts`` conflicts in a row the last one becomes a
    :class:`StoreError`; any other error propagates unchanged at once.
    """
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if not is_conflict(exc):
                raise
            if attempt == attempts:
                raise StoreError(
                    f"{what}: still conflicting with other writers after {attempts} "
                    "attempts; run the same command again"
                ) from exc
            delay = min(MAX_DELAY_S, BASE_DELAY_S * 2 ** (attempt - 1))
            delay *= random.uniform(0.5, 1.5)
            logger.info("%s: commit conflict (attempt %d), retrying in %.2fs", what, attempt, delay)
            sleep(delay)
            if on_retry is not None:
                on_retry()
    raise AssertionError("unreachable")  # pragma: no cover
