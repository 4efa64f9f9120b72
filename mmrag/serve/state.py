"""What every request handler shares: the warm RAG, the keys, the ingest jobs."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from fastapi import Request

from mmrag.aio import run_blocking
from mmrag.api import RAG
from mmrag.memory import Memories
from mmrag.serve.jobs import IngestJobs
from mmrag.serve.keys import KeyRing


@dataclass(slots=True)
class ServerState:
    rag: RAG
    keys: KeyRing
    jobs: IngestJobs
    #: Memory edits are read-modify-write on one table (and undo reads its history):
    #: two at once could lose one, so they take turns. Reads never wait for it.
    memory_lock: threading.Lock = field(default_factory=threading.Lock)
    _memories: dict[str, Memories] = field(default_factory=dict)
    _memories_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # RAG builds its retriever and asker on first use. Built now, before request
        # threads share the RAG, there is one of each, and so one memory table handle per
        # user: a LanceDB table handle does not see writes made through another handle.
        _ = self.rag.retriever, self.rag._asker

    async def ready(self, user: str | None) -> None:
        """Before a user's first question: their memories, made once under the lock, so
        two first questions at once cannot each make their own."""
        if user and user not in self._memories:
            await run_blocking(self.memories, user)

    def memories(self, user: str) -> Memories:
        """``user``'s memories: the same object the RAG answers with, so an edit is seen by
        the next question at once (another table handle would not see it)."""
        with self._memories_lock:
            if user not in self._memories:
                # rag.memories() also records the pipeline in the store: once per user.
                self._memories[user] = self.rag.memories(user)
            return self._memories[user]


def get_state(request: Request) -> ServerState:
    state: ServerState = request.app.state.mmrag
    return state
