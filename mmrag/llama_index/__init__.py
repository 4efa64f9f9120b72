"""LlamaIndex adapters: mmrag's retrieval, relevancy score and loaders as LlamaIndex parts.

- :class:`MmragRetriever` — a ``BaseRetriever`` over an mmrag store: text nodes and
  ``ImageNode``s (with their stored image), mmrag's relevancy scores, citation metadata
  (source, page, kind) and one user's scope.
- :class:`RelevancyPostprocessor` — a node postprocessor that gives *any* LlamaIndex
  retriever's nodes mmrag's relevancy score in [0, 1] and keeps them by adaptive k.
- :class:`MmragReader` — a ``BaseReader`` that reads PDFs (OCR of scanned pages),
  HTML/Markdown with their images, photos and office files into ``Document``s and
  ``ImageDocument``s.

Needs the ``llama-index`` extra (``pip install '.[llama-index]'`` in the checkout).

Example::

    from llama_index.core.query_engine import RetrieverQueryEngine
    from mmrag import RAG
    from mmrag.llama_index import MmragRetriever

    retriever = MmragRetriever(RAG.open("my-store"), user="alice")
    engine = RetrieverQueryEngine.from_args(retriever, llm=my_llm)
    print(engine.query("What was Q3 revenue?"))
"""

from __future__ import annotations

from mmrag.errors import MissingDependencyError


class LlamaIndexMissingError(MissingDependencyError, ImportError):
    """llama-index-core is not installed. Also an ``ImportError``, so code that imports
    optional integrations inside ``try: ... except ImportError`` keeps working."""


try:
    import llama_index.core  # noqa: F401
except ImportError as exc:
    raise LlamaIndexMissingError(
        "llama-index-core", "llama-index", "mmrag's LlamaIndex integration (mmrag.llama_index)"
    ) from exc

from mmrag.llama_index.postprocessor import RelevancyPostprocessor  # noqa: E402
from mmrag.llama_index.reader import MmragReader  # noqa: E402
from mmrag.llama_index.retriever import MmragRetriever  # noqa: E402

__all__ = ["LlamaIndexMissingError", "MmragReader", "MmragRetriever", "RelevancyPostprocessor"]
