"""``mmrag serve``: the HTTP API over a warm pipeline."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmrag.cli.app import DEFAULT_STORE, PipelineOpt, StoreOpt, app, err, handle_errors


@app.command()
def serve(
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            help="API keys file (YAML or JSON) mapping keys to users; else $MMRAG_API_KEYS.",
        ),
    ] = None,
    host: Annotated[
        str, typer.Option(help="Address to listen on; keep 127.0.0.1 unless behind TLS.")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    uploads: Annotated[
        Path | None,
        typer.Option(help="Where ingested uploads are kept (default: uploads/ in the store)."),
    ] = None,
    warm: Annotated[bool, typer.Option(help="Load every model before accepting requests.")] = True,
    refresh: Annotated[
        float,
        typer.Option(
            min=0.0,
            help="Seconds after which writes by other processes (an `mmrag ingest` beside "
            "the server) become visible; 0 checks on every request.",
        ),
    ] = 5.0,
    log_level: Annotated[
        str, typer.Option(help="uvicorn's log level: debug, info, warning, error.")
    ] = "info",
    store: StoreOpt = DEFAULT_STORE,
    pipeline: PipelineOpt = None,
) -> None:
    """Serve search, ask (streamed), ingest, memories and stats over HTTP; docs at /docs.

    Models load once and stay warm. Each API key maps to a user: it reads the shared
    corpus and its own user, writes only its own user; an admin key also writes the
    shared corpus. Without a key only /health answers.
    """
    with handle_errors():
        from mmrag.models.deps import require

        uvicorn = require("uvicorn", extra="serve", purpose="mmrag serve")
        require("fastapi", extra="serve", purpose="mmrag serve")
        from mmrag.api import RAG
        from mmrag.serve import KeyRing, create_app

        ring = KeyRing.load(keys)
        rag = RAG.open(store, pipeline=pipeline, read_consistency_interval=refresh)
        application = create_app(rag, ring, uploads=uploads, warm=warm)
    err.print(f"serving {store} on http://{host}:{port} (API docs: /docs); keys: {len(ring)}")
    uvicorn.run(application, host=host, port=port, log_level=log_level)
