"""Candidate search: one ranked list per modality, plus documents for a document prior.

- ``text_vector``: the query's text embedding against text, image summaries, memories;
- ``full_text``: BM25 over the same;
- ``image_vector``: a query image's features against images;
- ``text_image``: the query text in the image space, when the image embedder is
  cross-modal (CLIP, SigLIP), or else through the store's fitted map (``mmrag align``);
- documents: whole documents ranked by TF-IDF and/or BM25 (which report is this about?);
- with a second text embedder, its cosine for each text candidate (read, not searched).

What does not need the query's embedding (BM25, the documents, the vector search's
filter) runs on worker threads while the query is embedded: LanceDB and torch release
the GIL, and on the dev store it takes BM25's 4-8 ms off each retrieval.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from typing import TypedDict

import numpy as np
from PIL import Image

from mmrag.align.search import AlignedQueries
from mmrag.components import Components
from mmrag.models.image_embed import TextToImageEmbedder
from mmrag.models.relevance.base import Candidates
from mmrag.models.relevance.late_interaction import maxsim
from mmrag.retrieve.filters import SearchFilter
from mmrag.retrieve.routing import DocumentRouter
from mmrag.schema import TEXT_SEARCHABLE_KINDS, NodeKind
from mmrag.store import Store
from mmrag.store.documents import DocumentHit
from mmrag.store.hits import read_hits


class SearchScope(TypedDict):
    """What each of one retrieval's searches is limited to."""

    user: str | None
    kinds: list[NodeKind]
    limit: int
    where: str | None


class CandidateSearch:
    def __init__(self, store: Store, components: Components) -> None:
        self.store = store
        self.components = components
        self.router = DocumentRouter(store.documents)
        self.aligned = AlignedQueries(store, components)

    def gather(
        self,
        query: str | None,
        *,
        image: Image.Image | None,
        user: str | None,
        filters: SearchFilter,
        limit: int,
    ) -> Candidates:
        found = Candidates(query=query)
        where = filters.where()
        text_kinds = [k for k in TEXT_SEARCHABLE_KINDS if filters.allows(k)]
        has_text = bool(query and query.strip())
        vector = None
        if has_text and text_kinds:
            assert query is not None
            store = self.store
            scope = SearchScope(user=user, kinds=text_kinds, limit=limit, where=where)
            full_text = self._pool.submit(store.find_full_text, query, **scope)
            documents = self._pool.submit(
                self._documents_and_filter, query, user, text_kinds, filters
            )
            second = self.components.second_embedder
            second_query = (
                self._pool.submit(second.embed, [query], is_query=True) if second else None
            )
            query_tokens = None
            try:
                vector, query_tokens = self._embed_query(query)
                nearest = store.find_vector("text_vector", vector, **scope)
            finally:
                # Nothing left running when this raises (each worker's own failure is
                # raised where its result is read, below).
                full_text.exception()
                documents.exception()
                if second_query is not None:
                    second_query.exception()
            # Both lists' rows in one read (mmrag.store.hits); should the table move on
            # in between, each search again on its own.
            read = read_hits([nearest, full_text.result()])
            if read is None:
                read = [
                    store.vector_search("text_vector", vector, **scope),
                    store.full_text_search(query, **scope),
                ]
            found.lists["text_vector"], found.lists["full_text"] = read
            found.documents = documents.result()
            if second_query is not None:
                found.second_similarity = self._second_similarity(second_query.result()[0], found)
            if query_tokens is not None:
                found.late_similarity = self._late_similarity(query_tokens, found)
        embedder = self.components.image_embedder
        if embedder is not None and filters.allows(NodeKind.IMAGE):
            if image is not None:
                found.lists["image_vector"] = self.store.vector_search(
                    "image_vector",
                    embedder.embed_images([image])[0],
                    user=user,
                    kinds=[NodeKind.IMAGE],
                    limit=limit,
                    where=where,
                )
            if has_text and isinstance(embedder, TextToImageEmbedder):
                assert query is not None
                found.lists["text_image"] = self.store.vector_search(
                    "image_vector",
                    embedder.embed_texts([query])[0],
                    user=user,
                    kinds=[NodeKind.IMAGE],
                    limit=limit,
                    where=where,
                )
            elif has_text and (align_map := self.aligned.map_for(user)) is not None:
                assert query is not None
                if vector is None:
                    vector = self.components.text_embedder.embed([query], is_query=True)[0]
                hits = self.store.vector_search(
                    "image_vector",
                    align_map.query_vector(vector),
                    user=user,
                    kinds=[NodeKind.IMAGE],
                    limit=limit,
                    where=where,
                )
                found.lists["text_image"] = hits
                # The map's own P(relevant) per hit: the relevancy score, fitted on
                # document questions, cannot tell these images apart by their pixels.
                relevancy = align_map.relevancy(vector, np.array([h.score for h in hits]))
                if relevancy is not None:
                    found.text_image_relevancy = [float(p) for p in relevancy]
        return found

    def _embed_query(self, query: str) -> tuple[np.ndarray, np.ndarray | None]:
        """The query's text vector and, with late interaction, its token vectors, both
        from one forward pass (a second pass beside the searches cost ~20 ms a query)."""
        tokens = self.components.token_embedder
        if tokens is None:
            return self.components.text_embedder.embed([query], is_query=True)[0], None
        vectors, token_vectors = tokens.embed_with_tokens([query], is_query=True)
        return vectors[0], token_vectors[0]

    def _second_similarity(self, query_vector: np.ndarray, found: Candidates) -> dict[str, float]:
        """The second text embedder's cosine of the query (``query_vector``, embedded
        beside the first search) and each text candidate, from their stored vectors."""
        ids = [h.node.id for name in ("text_vector", "full_text") for h in found.lists[name]]
        stored = self.store.second_vectors(ids)
        if not stored:
            return {}
        keys = list(stored)
        cosines = np.stack([stored[k] for k in keys]) @ query_vector
        return dict(zip(keys, (float(c) for c in cosines), strict=True))

    def _late_similarity(self, query_tokens: np.ndarray, found: Candidates) -> dict[str, float]:
        """MaxSim of the query's token vectors and each text candidate's stored ones."""
        ids = [h.node.id for name in ("text_vector", "full_text") for h in found.lists[name]]
        stored = self.store.token_vectors(ids, query_tokens.shape[1])
        return {node_id: maxsim(query_tokens, tokens) for node_id, tokens in stored.items()}

    def _documents_and_filter(
        self, query: str, user: str | None, kinds: list[NodeKind], filters: SearchFilter
    ) -> list[DocumentHit]:
        documents = self.router.search(query, user=user, limit=20, where=filters.documents_where())
        self.store.prepare_vector_search(user=user, kinds=kinds, where=filters.where())
        return documents

    @cached_property
    def _pool(self) -> ThreadPoolExecutor:
        # BM25 on one worker, the documents and the filter on another, and a second
        # embedder's query embedding on a third.
        return ThreadPoolExecutor(max_workers=3, thread_name_prefix="mmrag-search")
