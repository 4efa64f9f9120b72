"""Candidate search: text vector + full text over text and image summaries, image vector
over images for a query image, fused by weighted reciprocal rank fusion."""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from mmrag.components import Components
from mmrag.errors import ConfigError
from mmrag.retrieve.fusion import reciprocal_rank_fusion
from mmrag.schema import TEXT_SEARCHABLE_KINDS, NodeKind, ScoredNode
from mmrag.store import Hit, Store


class Searcher:
    def __init__(self, store: Store, components: Components) -> None:
        self.store = store
        self.components = components

    def search(
        self,
        query: str | None = None,
        *,
        image: Image.Image | None = None,
        user: str | None = None,
        k: int | None = None,
        where: str | None = None,
    ) -> list[ScoredNode]:
        """The ``k`` best nodes for a text query, a query image, or both.

        ``where`` is an extra SQL filter built by mmrag itself (never raw user text).
        """
        settings = self.components.config.retrieval
        k = k or settings.k
        n = max(settings.candidates, k)
        ranked: dict[str, Sequence[Hit]] = {}
        if query and query.strip():
            vector = self.components.text_embedder.embed([query], is_query=True)[0]
            kinds = list(TEXT_SEARCHABLE_KINDS)
            ranked["text_vector"] = self.store.vector_search(
                "text_vector", vector, user=user, kinds=kinds, limit=n, where=where
            )
            ranked["full_text"] = self.store.full_text_search(
                query, user=user, kinds=kinds, limit=n, where=where
            )
        if image is not None:
            embedder = self.components.image_embedder
            if embedder is None:
                raise ConfigError(
                    f"pipeline '{self.components.config.name}' has no image_embedder, "
                    "so it cannot search by image"
                )
            vector = embedder.embed_images([image])[0]
            ranked["image_vector"] = self.store.vector_search(
                "image_vector", vector, user=user, kinds=[NodeKind.IMAGE], limit=n, where=where
            )
        if not ranked:
            raise ConfigError("give a text query, a query image, or both")
        return reciprocal_rank_fusion(
            ranked, weights=settings.weights, rrf_k=settings.rrf_k, limit=k
        )
