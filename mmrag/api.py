"""The Python API: one class, three verbs — open a store, ingest files, search them.

Example::

    from mmrag import RAG

    rag = RAG.open("my-store")                   # offline default pipeline
    rag.ingest(["docs/"], show_progress=True)
    for hit in rag.search("quarterly revenue chart", k=5):
        print(hit.score, hit.node.location(), hit.node.text[:80])
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from mmrag.api_async import AsyncVerbs
from mmrag.components import Components
from mmrag.config import DEFAULT_PIPELINE, PipelineConfig, load_pipeline
from mmrag.ingest.images import open_query_image
from mmrag.pipeline_record import check_compatible, pipeline_record, stored_pipeline
from mmrag.retrieve.filters import SearchFilter
from mmrag.schema import Answer, ScoredNode
from mmrag.stats import StoreStats
from mmrag.store.filters import read_scope, validate_user

# Heavy parts (LanceDB, the ingest loaders, retrieval) are imported where first used, so
# that `import mmrag` and quick commands such as `mmrag --help` start in well under 2 s.
if TYPE_CHECKING:
    from PIL import Image

    from mmrag.generate.asker import Asker
    from mmrag.generate.prompt import Prompt
    from mmrag.ingest import IngestProgress, IngestReport
    from mmrag.memory import Memories
    from mmrag.retrieve.retriever import Retrieval, Retriever
    from mmrag.store import Store

logger = logging.getLogger(__name__)

#: Where the CLI and ``RAG.open()`` keep the store unless told otherwise.
DEFAULT_STORE = os.environ.get("MMRAG_STORE", ".mmrag")


class RAG(AsyncVerbs):
    """A store plus the pipeline that indexes and searches it."""

    def __init__(
        self, store: Store, config: PipelineConfig, *, pipeline_source: str | None = None
    ) -> None:
        self.store = store
        self.config = config
        self._pipeline_source = pipeline_source
        self.components = Components(config)

    @cached_property
    def retriever(self) -> Retriever:
        from mmrag.retrieve.retriever import Retriever

        return Retriever(self.store, self.components)

    @cached_property
    def _asker(self) -> Asker:
        from mmrag.generate.asker import Asker

        return Asker(self.store, self.components, self.retriever)

    @classmethod
    def open(
        cls,
        store: str | Path = DEFAULT_STORE,
        *,
        pipeline: str | Path | PipelineConfig | None = None,
        create: bool = True,
        read_consistency_interval: float | None = None,
    ) -> RAG:
        """Open (or create) the store at ``store`` with a pipeline.

        Without ``pipeline`` an existing store keeps the pipeline it was built with and a
        new one gets the offline default. A pipeline whose embedders differ from the
        store's is refused: its vectors could not be compared with the stored ones.
        A long-lived process (a server) passes ``read_consistency_interval`` (seconds) to
        see what other processes write to the store; see :meth:`Store.open`.
        """
        uri = str(store)
        from mmrag.store import Store

        opened = Store.open(uri, read_consistency_interval=read_consistency_interval, create=create)
        meta = opened.meta()
        stored = meta.get("pipeline")
        if pipeline is None:
            source = meta.get("pipeline_source") or (None if stored else DEFAULT_PIPELINE)
            config = stored_pipeline(uri, stored, source)
        elif isinstance(pipeline, PipelineConfig):
            config, source = pipeline, None
        else:
            config, source = load_pipeline(pipeline), str(pipeline)
        if stored:
            check_compatible(uri, stored, config)
        return cls(opened, config, pipeline_source=source)

    def ingest(
        self,
        paths: Sequence[str | Path] | str | Path,
        *,
        user: str | None = None,
        include: Sequence[str] = (),
        exclude: Sequence[str] = (),
        prune: bool = False,
        show_progress: bool = False,
        progress: IngestProgress | None = None,
        allow_links_outside: Sequence[str | Path] = (),
        cluster: str | None = None,
    ) -> IngestReport:
        """Ingest files and directories; unchanged files are skipped.

        ``user=None`` adds to the shared corpus that every user can search; a user name
        adds to that user's private namespace. Only regular files inside ``paths`` are
        read, and images that Markdown/HTML files link to only when they lie inside
        ``paths`` too, or inside a folder of ``allow_links_outside``; symlinks leading
        elsewhere and refused links are listed in the report, never read.

        ``cluster`` runs the per-file work (parsing, OCR, image features, embeddings) on
        a Ray cluster — ``"auto"`` (the one ``ray start`` runs on this machine),
        ``"HOST:PORT"`` or ``"ray://HOST:PORT"`` — while this process keeps the ledger
        and does the writes; see :mod:`mmrag.ingest.distributed`. Example::

            rag.ingest(["docs/"], cluster="auto")
        """
        if isinstance(paths, str | Path):
            paths = [paths]
        validate_user(user)
        from mmrag.ingest import Ingestor, RichProgress

        if progress is None and show_progress:
            progress = RichProgress()
        if progress is not None:
            # On screen at once: the models load next, which can take a while.
            progress.stage("loading models")
        try:
            self._prepare_store()
            ingestor = Ingestor(self.store, self.components, cluster=cluster)
        except BaseException:
            if progress is not None:
                progress.finish()  # the display started above must not outlive the error
            raise
        return ingestor.run(
            paths,
            user=user,
            include=include,
            exclude=exclude,
            prune=prune,
            progress=progress,
            allow_links_outside=allow_links_outside,
        )

    def search(
        self,
        query: str | None = None,
        *,
        image: str | Path | bytes | Image.Image | None = None,
        user: str | None = None,
        k: int | None = None,
        source: str | Sequence[str] | None = None,
        filters: SearchFilter | None = None,
    ) -> list[ScoredNode]:
        """The most relevant nodes for a text query and/or a query image, best first.

        Without ``k`` the pipeline's adaptive k decides how many (those whose relevancy
        score passes its threshold); with ``k``, exactly the best ``k``. ``source``
        limits the search to files matching a path or glob (``report.pdf``,
        ``papers/*.pdf``) or under a folder (``papers``); ``filters`` adds documents,
        kinds and page ranges.
        """
        return self.retrieve(
            query, image=image, user=user, k=k, source=source, filters=filters
        ).items

    def retrieve(
        self,
        query: str | None = None,
        *,
        image: str | Path | bytes | Image.Image | None = None,
        user: str | None = None,
        k: int | None = None,
        source: str | Sequence[str] | None = None,
        filters: SearchFilter | None = None,
    ) -> Retrieval:
        """Like :meth:`search`, with candidate counts and timings."""
        validate_user(user)
        return self.retriever.retrieve(
            query,
            image=self._query_image(image),
            user=user,
            k=k,
            filters=_with_sources(filters, source),
        )

    def ask(
        self,
        question: str,
        *,
        image: str | Path | bytes | Image.Image | None = None,
        user: str | None = None,
        source: str | Sequence[str] | None = None,
        filters: SearchFilter | None = None,
    ) -> Answer:
        """Answer ``question`` from the store, citing the items used as [1], [2].

        When the retrieved context does not hold the answer, the answer says so
        (``answer.answerable`` is False) instead of inventing one; a model's draft that
        the support check rejected is kept in ``answer.raw_text``, with the reason in
        ``answer.rejection``. With ``generation.answerer: extractive`` (the offline
        default) the text quotes the context's own sentences or rows
        (``answer.extractive``). ``source`` and ``filters`` limit what is read, as in
        :meth:`search`.

        Example::

            answer = rag.ask("What was the revenue in Q3?")
            print(answer.text)
            for c in answer.citations:
                print(c.number, c.node.location())
        """
        validate_user(user)
        return self._asker.ask(
            question,
            image=self._query_image(image),
            user=user,
            filters=_with_sources(filters, source),
        )

    def ask_stream(
        self,
        question: str,
        *,
        image: str | Path | bytes | Image.Image | None = None,
        user: str | None = None,
        source: str | Sequence[str] | None = None,
        filters: SearchFilter | None = None,
    ) -> Iterator[str | Answer]:
        """Like :meth:`ask`, yielding text as it is generated, then the :class:`Answer`.

        The text pieces are a *draft*: the support check reads the whole draft only after
        it is written, and may reject it. The final :class:`Answer` is the verdict — show
        its ``text`` (the refusal when ``answerable`` is False), never the draft alone.

        Example::

            draft = []
            for item in rag.ask_stream("Who is the CEO?"):
                if isinstance(item, str):
                    draft.append(item)          # provisional: show it dimmed, or not at all
                elif item.answerable:
                    print(item.text)            # the checked answer
                    for c in item.citations:
                        print(f"[{c.number}]", c.node.location())
                else:
                    print(item.text)            # the refusal; item.raw_text is the draft
        """
        validate_user(user)
        yield from self._asker.ask_stream(
            question,
            image=self._query_image(image),
            user=user,
            filters=_with_sources(filters, source),
        )

    def prompt(
        self,
        question: str,
        *,
        image: str | Path | bytes | Image.Image | None = None,
        user: str | None = None,
        source: str | Sequence[str] | None = None,
        filters: SearchFilter | None = None,
    ) -> Prompt:
        """What :meth:`ask` would put in front of the generator, without generating.

        A retrieval-only ask: ``prompt.context`` is the numbered context (memories
        first in ``prompt.memories``) and ``prompt.messages`` the messages, ready for a
        model of one's own.
        """
        validate_user(user)
        return self._asker.prepare(
            question,
            image=self._query_image(image),
            user=user,
            filters=_with_sources(filters, source),
        )

    def memories(self, user: str) -> Memories:
        """The personal concepts of ``user``: add, edit, remove, list, recognise, undo.

        Example::

            rag.memories("alice").add("bo", photos=["bo.jpg"], info="My Shiba Inu.", category="dog")
            rag.ask("What colour is bo's collar?", user="alice")
        """
        if "schema_version" not in self.store.meta():
            # A new store records its embedders first; an existing one is read as it is,
            # so that listing memories loads no model.
            self._prepare_store()
        return self._asker._memories(validate_user(user))

    def image(self, image_id: str, *, user: str | None = None) -> Image.Image | None:
        """A stored image by id, if ``user`` may see it."""
        found = self.store.image_bytes(image_id, user=user)
        if found is None:
            return None
        return open_query_image(found[0])

    def stats(self, *, user: str | None = None) -> StoreStats:
        meta = self.store.meta()
        return StoreStats(
            uri=self.store.uri,
            pipeline=self.config.name,
            text_embedder=meta.get("text_embedder", self.config.text_embedder.type),
            image_embedder=meta.get("image_embedder"),
            second_embedder=meta.get("second_embedder"),
            token_vectors=bool((meta.get("pipeline") or {}).get("late_interaction")),
            files=self.store.files.count(read_scope(user)),
            nodes=self.store.count(user=user),
            version=self.store.version(),
            indexes=self.store.index_names(),
            size_bytes=self.store.disk_bytes(),
            live_bytes=self.store.live_bytes(),
            index_coverage=[c.to_dict() for c in self.store.index_coverage()],
        )

    @staticmethod
    def _query_image(image: str | Path | bytes | Image.Image | None) -> Image.Image | None:
        if image is None:
            return None
        return open_query_image(str(image) if isinstance(image, Path) else image)

    def _prepare_store(self) -> None:
        """Create the nodes table for this pipeline's embedders and record the pipeline."""
        text = self.components.text_embedder
        image = self.components.image_embedder
        second = self.components.second_embedder
        self.store.create_nodes_table(
            text.dim,
            image.dim if image else None,
            second.dim if second else None,
            token_vectors=self.config.late_interaction,
        )
        self.store.set_meta(
            pipeline_record(
                self.config,
                self.components,
                self._pipeline_source,
                first="schema_version" not in self.store.meta(),
            )
        )


def _with_sources(filters: SearchFilter | None, source: str | Sequence[str] | None) -> SearchFilter:
    filters = filters or SearchFilter()
    if source is None:
        return filters
    extra = (source,) if isinstance(source, str) else tuple(source)
    return replace(filters, sources=filters.sources + extra)
