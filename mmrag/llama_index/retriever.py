"""mmrag's retrieval as a LlamaIndex ``BaseRetriever``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle

from mmrag.api import RAG
from mmrag.llama_index.nodes import to_llama
from mmrag.retrieve import SearchFilter
from mmrag.schema import NodeKind
from mmrag.store.filters import validate_user

logger = logging.getLogger(__name__)


class MmragRetriever(BaseRetriever):
    """Retrieve from an mmrag store inside any LlamaIndex query engine or agent.

    Each result is mmrag's own: fused text, full-text and image candidates, scored by the
    pipeline's relevancy score (``NodeWithScore.score``, in [0, 1]) and cut by adaptive k
    unless ``k`` is given. Images and image summaries come back as ``ImageNode``s with
    the stored image as base64 (a store is self-contained; no file path is needed), so a
    multimodal LLM can look at them. Metadata carries the citation: ``source``,
    ``file_name``, ``page``, ``kind``. ``user`` scopes every search to the shared corpus
    plus that user's own files, as :meth:`mmrag.RAG.search` does.

    A query image can be passed as ``QueryBundle(query_str, image_path="photo.jpg")``.

    Example::

        retriever = MmragRetriever(RAG.open("my-store"), user="alice", k=5)
        for hit in retriever.retrieve("revenue by region"):
            print(hit.score, hit.node.metadata["file_name"], hit.node.metadata.get("page"))
    """

    def __init__(
        self,
        rag: RAG,
        *,
        user: str | None = None,
        k: int | None = None,
        source: str | Sequence[str] | None = None,
        filters: SearchFilter | None = None,
        include_images: bool = True,
        callback_manager: CallbackManager | None = None,
        verbose: bool = False,
    ) -> None:
        self.rag = rag
        self.user = validate_user(user) or None
        self.k = k
        self.source = source
        self.filters = filters
        #: Attach the stored image bytes to ``ImageNode``s (off: metadata only, lighter).
        self.include_images = include_images
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        query = query_bundle.query_str.strip() or None
        image = query_bundle.image_path or None
        items = self.rag.search(
            query, image=image, user=self.user, k=self.k, source=self.source, filters=self.filters
        )
        images: dict[str, tuple[bytes, str] | None] = {}
        out = []
        for item in items:
            node = item.node
            picture = None
            if self.include_images and node.image_id and node.kind != NodeKind.TEXT:
                if node.image_id not in images:
                    images[node.image_id] = self.rag.store.image_bytes(
                        node.image_id, user=self.user
                    )
                picture = images[node.image_id]
            out.append(to_llama(item, picture))
        logger.debug("retrieved %d nodes for %r (user %r)", len(out), query, self.user)
        return out

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # Retrieval is blocking (LanceDB, embedders): keep the caller's event loop free.
        return await asyncio.to_thread(self._retrieve, query_bundle)
