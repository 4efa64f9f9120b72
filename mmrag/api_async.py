"""The asyncio half of :class:`mmrag.RAG`: the same verbs, each run in a worker thread.

Retrieval, model inference and LanceDB reads block; an asyncio application (a web
server, a bot) that called them directly would freeze its other tasks. These methods
hand the blocking call to :mod:`mmrag.aio`, so the loop stays free.

Example::

    hits = await rag.asearch("revenue chart", k=5)
    answer = await rag.aask("What was Q3 revenue?")
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, cast

from mmrag.aio import iterate_blocking, run_blocking
from mmrag.retrieve.filters import SearchFilter
from mmrag.schema import Answer, ScoredNode

if TYPE_CHECKING:
    from PIL import Image

    from mmrag.api import RAG
    from mmrag.generate.prompt import Prompt
    from mmrag.ingest import IngestProgress, IngestReport
    from mmrag.retrieve.retriever import Retrieval


class AsyncVerbs:
    """``asearch``, ``aretrieve``, ``aask``, ``aprompt``, ``aask_stream``, ``aingest``."""

    async def asearch(
        self,
        query: str | None = None,
        *,
        image: str | Path | bytes | Image.Image | None = None,
        user: str | None = None,
        k: int | None = None,
        source: str | Sequence[str] | None = None,
        filters: SearchFilter | None = None,
    ) -> list[ScoredNode]:
        """:meth:`search` for asyncio code. Example: ``hits = await rag.asearch("chart")``."""
        return await run_blocking(
            _rag(self).search, query, image=image, user=user, k=k, source=source, filters=filters
        )

    async def aretrieve(
        self,
        query: str | None = None,
        *,
        image: str | Path | bytes | Image.Image | None = None,
        user: str | None = None,
        k: int | None = None,
        source: str | Sequence[str] | None = None,
        filters: SearchFilter | None = None,
    ) -> Retrieval:
        """:meth:`retrieve` for asyncio code."""
        return await run_blocking(
            _rag(self).retrieve, query, image=image, user=user, k=k, source=source, filters=filters
        )

    async def aask(
        self,
        question: str,
        *,
        image: str | Path | bytes | Image.Image | None = None,
        user: str | None = None,
        source: str | Sequence[str] | None = None,
        filters: SearchFilter | None = None,
    ) -> Answer:
        """:meth:`ask` for asyncio code. Example: ``answer = await rag.aask("Who?")``."""
        return await run_blocking(
            _rag(self).ask, question, image=image, user=user, source=source, filters=filters
        )

    async def aprompt(
        self,
        question: str,
        *,
        image: str | Path | bytes | Image.Image | None = None,
        user: str | None = None,
        source: str | Sequence[str] | None = None,
        filters: SearchFilter | None = None,
    ) -> Prompt:
        """:meth:`prompt` (a retrieval-only ask) for asyncio code."""
        return await run_blocking(
            _rag(self).prompt, question, image=image, user=user, source=source, filters=filters
        )

    async def aask_stream(
        self,
        question: str,
        *,
        image: str | Path | bytes | Image.Image | None = None,
        user: str | None = None,
        source: str | Sequence[str] | None = None,
        filters: SearchFilter | None = None,
    ) -> AsyncIterator[str | Answer]:
        """:meth:`ask_stream` for asyncio code: text pieces as they come, then the Answer.

        The last item is the verdict: when ``answer.answerable`` is False the pieces
        before it were a draft that must not be shown as the answer.

        Example::

            async for item in rag.aask_stream("What was Q3 revenue?"):
                print(item.text if isinstance(item, Answer) else item, end="")
        """
        stream = iterate_blocking(
            lambda: _rag(self).ask_stream(
                question, image=image, user=user, source=source, filters=filters
            )
        )
        async for item in stream:
            yield item

    async def aingest(
        self,
        paths: Sequence[str | Path] | str | Path,
        *,
        user: str | None = None,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        prune: bool = False,
        progress: IngestProgress | None = None,
        allow_links_outside: Sequence[str | Path] = (),
        cluster: str | None = None,
    ) -> IngestReport:
        """:meth:`ingest` for asyncio code (``progress`` is called from the worker thread)."""
        return await run_blocking(
            _rag(self).ingest,
            paths,
            user=user,
            include=include,
            exclude=exclude,
            prune=prune,
            progress=progress,
            allow_links_outside=allow_links_outside,
            cluster=cluster,
        )


def _rag(verbs: AsyncVerbs) -> RAG:
    # AsyncVerbs is only ever mixed into RAG; mypy cannot see that from here.
    return cast("RAG", verbs)
