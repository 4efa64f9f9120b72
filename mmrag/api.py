"""The Python API: one class, three verbs — open a store, ingest files, search them.

Example::

    from mmrag import RAG

    rag = RAG.open("my-store")                   # offline default pipeline
    rag.ingest(["docs/"], show_progress=True)
    for hit in rag.search("quarterly revenue chart", k=5):
        print(hit.score, hit.node.location(), hit.node.text[:80])
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from PIL import Image

from mmrag.components import Components
from mmrag.config import PipelineConfig, load_pipeline
from mmrag.errors import StoreError
from mmrag.ingest import Ingestor, IngestProgress, IngestReport, RichProgress
from mmrag.ingest.images import open_query_image
from mmrag.retrieve import Searcher
from mmrag.schema import ScoredNode
from mmrag.store import Store
from mmrag.store.filters import read_scope, source_filter, validate_user

#: Where the CLI and ``RAG.open()`` keep the store unless told otherwise.
DEFAULT_STORE = os.environ.get("MMRAG_STORE", ".mmrag")

_SCHEMA_VERSION = 1
#: Pipeline parts whose change makes stored vectors incomparable with new ones.
_VECTOR_KEYS = ("text_embedder", "image_embedder")


@dataclass(slots=True)
class StoreStats:
    uri: str
    pipeline: str
    text_embedder: str
    image_embedder: str | None
    files: int
    nodes: dict[str, int] = field(default_factory=dict)
    version: int = 0
    indexes: list[str] = field(default_factory=list)
    size_bytes: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "pipeline": self.pipeline,
            "text_embedder": self.text_embedder,
            "image_embedder": self.image_embedder,
            "files": self.files,
            "nodes": self.nodes,
            "total_nodes": sum(self.nodes.values()),
            "version": self.version,
            "indexes": self.indexes,
            "size_bytes": self.size_bytes,
        }


class RAG:
    """A store plus the pipeline that indexes and searches it."""

    def __init__(self, store: Store, config: PipelineConfig) -> None:
        self.store = store
        self.config = config
        self.components = Components(config)
        self._searcher = Searcher(store, self.components)

    @classmethod
    def open(
        cls,
        store: str | Path = DEFAULT_STORE,
        *,
        pipeline: str | Path | PipelineConfig | None = None,
        create: bool = True,
    ) -> RAG:
        """Open (or create) the store at ``store`` with a pipeline.

        Without ``pipeline`` an existing store keeps the pipeline it was built with and a
        new one gets the offline default. A pipeline whose embedders differ from the
        store's is refused: its vectors could not be compared with the stored ones.
        """
        uri = str(store)
        if not create and "://" not in uri and not Path(uri).is_dir():
            raise StoreError(f"no store at {uri}; create one with: mmrag ingest PATH --store {uri}")
        opened = Store.open(uri)
        stored = opened.meta().get("pipeline")
        if pipeline is None:
            config = (
                PipelineConfig.from_dict(stored, origin=f"{uri} (stored pipeline)")
                if stored
                else load_pipeline()
            )
        elif isinstance(pipeline, PipelineConfig):
            config = pipeline
        else:
            config = load_pipeline(pipeline)
        if stored:
            _check_compatible(uri, stored, config)
        return cls(opened, config)

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
    ) -> IngestReport:
        """Ingest files and directories; unchanged files are skipped.

        ``user=None`` adds to the shared corpus that every user can search; a user name
        adds to that user's private namespace.
        """
        if isinstance(paths, str | Path):
            paths = [paths]
        validate_user(user)
        self._prepare_store()
        if progress is None and show_progress:
            progress = RichProgress()
        ingestor = Ingestor(self.store, self.components)
        return ingestor.run(
            paths, user=user, include=include, exclude=exclude, prune=prune, progress=progress
        )

    def search(
        self,
        query: str | None = None,
        *,
        image: str | Path | bytes | Image.Image | None = None,
        user: str | None = None,
        k: int | None = None,
        source: str | Sequence[str] | None = None,
    ) -> list[ScoredNode]:
        """The best ``k`` nodes for a text query and/or a query image, best first.

        ``source`` limits the search to files matching a path or glob (``report.pdf``,
        ``papers/*.pdf``, ``/data/*``); several patterns match any of them.
        """
        validate_user(user)
        query_image = None
        if image is not None:
            query_image = open_query_image(str(image) if isinstance(image, Path) else image)
        patterns = [source] if isinstance(source, str) else list(source or [])
        where = source_filter(patterns)
        return self._searcher.search(query, image=query_image, user=user, k=k, where=where)

    def image(self, image_id: str, *, user: str | None = None) -> Image.Image | None:
        """A stored image by id, if ``user`` may see it."""
        found = self.store.image_bytes(image_id, user=user)
        if found is None:
            return None
        return open_query_image(found[0])

    def stats(self, *, user: str | None = None) -> StoreStats:
        meta = self.store.meta()
        size = _dir_size(Path(self.store.uri)) if "://" not in self.store.uri else None
        return StoreStats(
            uri=self.store.uri,
            pipeline=self.config.name,
            text_embedder=meta.get("text_embedder", self.config.text_embedder.type),
            image_embedder=meta.get("image_embedder"),
            files=self.store.files.count(read_scope(user)),
            nodes=self.store.count(user=user),
            version=self.store.version(),
            indexes=self.store.index_names(),
            size_bytes=size,
        )

    def _prepare_store(self) -> None:
        """Create the nodes table for this pipeline's embedders and record the pipeline."""
        text = self.components.text_embedder
        image = self.components.image_embedder
        self.store.create_nodes_table(text.dim, image.dim if image else None)
        meta = self.store.meta()
        updates: dict[str, Any] = {"pipeline": self.config.model_dump(mode="json")}
        if "schema_version" not in meta:
            updates |= {
                "schema_version": _SCHEMA_VERSION,
                "created_at": datetime.now(UTC).isoformat(),
                "text_embedder": text.name,
                "text_dim": text.dim,
                "image_embedder": image.name if image else None,
                "image_dim": image.dim if image else None,
            }
        self.store.set_meta(updates)


def _check_compatible(uri: str, stored: dict[str, Any], config: PipelineConfig) -> None:
    current = config.model_dump(mode="json")
    for key in _VECTOR_KEYS:
        if stored.get(key) != current.get(key):
            raise StoreError(
                f"store {uri} was built with {key} {stored.get(key)}, but pipeline "
                f"'{config.name}' uses {current.get(key)}; their vectors cannot be mixed. "
                "Use another --store for this pipeline."
            )


def _dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())
