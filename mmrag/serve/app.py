"""The FastAPI application: one warm RAG shared by every request.

Handlers are ``async`` and hand every blocking call (retrieval, models, LanceDB) to a
worker thread, so the event loop keeps accepting requests and ``/health`` answers at
once however busy the models are. What the threads share is safe to share: model
backends guard themselves with locks where their runtime is not thread-safe (llama.cpp,
torch modules, RapidOCR), LanceDB tables allow concurrent readers beside one writer,
ingest jobs run one at a time, and memory edits take turns.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from PIL import Image

from mmrag.aio import run_blocking
from mmrag.api import RAG
from mmrag.errors import MmragError
from mmrag.ingest import IngestReport
from mmrag.models.mllm import GenerationOptions, Message
from mmrag.serve.errors import mmrag_error_handler
from mmrag.serve.jobs import IngestJobs, JobProgress
from mmrag.serve.keys import KeyRing
from mmrag.serve.routes import ask, info, ingest, memories, search
from mmrag.serve.state import ServerState

logger = logging.getLogger(__name__)

_DESCRIPTION = """\
Search, ask and ingest over an mmrag store, with each API key mapped to a user.

Send a key as `Authorization: Bearer KEY` (or `X-API-Key: KEY`). A key reads the shared
corpus plus its own user's documents and memories, and writes only its own user; writing
the shared corpus needs an admin key.
"""


def create_app(
    rag: RAG, keys: KeyRing, *, uploads: Path | None = None, warm: bool = True
) -> FastAPI:
    """The HTTP API over ``rag``. ``uploads`` is where ingested uploads are kept
    (default: ``uploads/`` inside a local store); ``warm`` loads the models at start-up
    so the first request does not pay for it."""
    folder = uploads or default_uploads(rag.store.uri)

    def run_ingest(paths: list[Path], user: str | None, progress: JobProgress) -> IngestReport:
        return rag.ingest(paths, user=user, progress=progress)

    state = ServerState(rag=rag, keys=keys, jobs=IngestJobs(run_ingest, folder))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm:
            await run_blocking(warm_up, rag)
        yield
        await run_blocking(state.jobs.shutdown)

    app = FastAPI(title="mmrag", description=_DESCRIPTION, lifespan=lifespan)
    app.state.mmrag = state
    app.add_exception_handler(MmragError, mmrag_error_handler)
    for module in (info, search, ask, ingest, memories):
        app.include_router(module.router)
    return app


def default_uploads(store_uri: str) -> Path:
    if "://" in store_uri:
        return Path("mmrag-uploads")
    return Path(store_uri) / "uploads"


def warm_up(rag: RAG) -> None:
    """Load every model the pipeline uses now, one after another, instead of inside the
    first requests (which would also race to build the same backend twice)."""
    components = rag.components
    steps: dict[str, Callable[[], object]] = {
        "text embedder": lambda: components.text_embedder.embed(["warm up"]),
        "image embedder": lambda: (
            components.image_embedder.embed_images([Image.new("RGB", (64, 64), "white")])
            if components.image_embedder is not None
            else None
        ),
        "relevancy scorer": lambda: rag.retriever.scorer,
        "search": lambda: rag.search("warm up", k=1) if rag.store.has_nodes else None,
        "generator": lambda: (
            components.generator.generate(
                [Message.text("user", "Hi")], GenerationOptions(max_tokens=1)
            )
            if components.config.generator is not None
            else None
        ),
    }
    for name, step in steps.items():
        try:
            step()
        except MmragError as exc:
            logger.warning("could not load the %s at start-up: %s", name, exc)
