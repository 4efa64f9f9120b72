"""``mmrag serve``: the HTTP API (FastAPI) over a warm pipeline, API keys mapped to users.

Needs the ``serve`` extra (``pip install '.[serve]'``). Example::

    from mmrag import RAG
    from mmrag.serve import KeyRing, create_app

    app = create_app(RAG.open("my-store"), KeyRing.load("keys.yaml"))
    # uvicorn.run(app, host="127.0.0.1", port=8000)
"""

from mmrag.serve.app import create_app
from mmrag.serve.keys import KeyRing, Principal

__all__ = ["KeyRing", "Principal", "create_app"]
