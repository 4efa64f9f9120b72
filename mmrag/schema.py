"""The records that flow through mmrag: nodes, scored nodes and their ids.

A :class:`Node` is the unit that is stored, searched and cited: a chunk of text, an image,
the text summary of an image, or (later) a personal memory. Its id is derived from its
content and origin, so re-ingesting the same file yields the same ids and upserts are
idempotent.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

#: The namespace of the shared corpus, visible to every user. Real user names are
#: validated to be non-empty, so they can never collide with it.
SHARED_USER = ""


class NodeKind(StrEnum):
    """What a node holds; decides which index and which vector it is searched by."""

    TEXT = "text"
    IMAGE = "image"
    IMAGE_SUMMARY = "image_summary"
    MEMORY = "memory"


#: Kinds searched by the text vector and full text.
TEXT_SEARCHABLE_KINDS = (NodeKind.TEXT, NodeKind.IMAGE_SUMMARY, NodeKind.MEMORY)


def content_digest(data: bytes | str) -> str:
    """Hex SHA-256 of bytes or UTF-8 text: the identity of a piece of content."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    return hashlib.sha256(raw).hexdigest()


def make_node_id(
    *, user: str, source: str, kind: NodeKind, page: int | None, content: str, occurrence: int = 0
) -> str:
    """Stable node id from where a node comes from and what it contains.

    ``occurrence`` tells apart identical content repeated on the same page of the same
    source (e.g. a logo twice), so ids stay unique without depending on chunk order.
    """
    key = "\x1f".join(
        [user, source, kind.value, str(page if page is not None else ""), content, str(occurrence)]
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]


@dataclass(slots=True)
class Node:
    """One retrievable unit of a document or memory.

    Example::

        Node(id="…", kind=NodeKind.TEXT, doc_id="…", source="/docs/report.pdf", page=3,
             text="Revenue grew 12% in 2023…")
    """

    id: str
    kind: NodeKind
    doc_id: str
    source: str
    page: int | None = None
    text: str = ""
    #: Content hash of the node's image (image and image_summary nodes share it).
    image_id: str | None = None
    user: str = SHARED_USER
    text_vector: np.ndarray | None = None
    #: The pipeline's second text embedder's vector (``second_embedder``), if it has one.
    second_vector: np.ndarray | None = None
    #: The text embedder's token vectors (n x dim), when the pipeline keeps them
    #: (``late_interaction``).
    token_vectors: np.ndarray | None = None
    image_vector: np.ndarray | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def location(self) -> str:
        """Human-readable origin, e.g. ``report.pdf p.3``."""
        name = self.source.rsplit("/", 1)[-1]
        return f"{name} p.{self.page}" if self.page is not None else name


@dataclass(slots=True)
class ScoredNode:
    """A node with the score it was ranked by and how each retriever saw it."""

    node: Node
    score: float
    #: Per-retriever evidence, e.g. ``{"text_vector": {"rank": 1, "score": 0.82}}``.
    scores: dict[str, dict[str, float]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly view without vectors or image bytes."""
        n = self.node
        return {
            "id": n.id,
            "kind": n.kind.value,
            "source": n.source,
            "page": n.page,
            "doc_id": n.doc_id,
            "user": n.user or None,
            "image_id": n.image_id,
            "text": n.text,
            "score": self.score,
            "scores": self.scores,
            "metadata": n.metadata,
        }


@dataclass(slots=True)
class Citation:
    """A context item the answer relies on, as ``[number]`` in the answer text."""

    number: int
    node: Node
    #: True when the model cited nothing and mmrag attributed the answer by overlap.
    inferred: bool = False

    def to_dict(self) -> dict[str, Any]:
        n = self.node
        return {
            "number": self.number,
            "id": n.id,
            "kind": n.kind.value,
            "source": n.source,
            "page": n.page,
            "image_id": n.image_id,
            "inferred": self.inferred,
        }


@dataclass(slots=True)
class MemoryRef:
    """A personal concept that was put in front of the model (``Name: <bo>, Info: …``)."""

    name: str
    info: str = ""
    category: str = ""
    image_ids: list[str] = field(default_factory=list)
    similarity: float | None = None


@dataclass(slots=True)
class Answer:
    """What :meth:`mmrag.RAG.ask` returns: the answer and everything needed to trust it."""

    question: str
    text: str
    citations: list[Citation] = field(default_factory=list)
    #: The context the model saw, item ``i`` is ``[i + 1]`` in the prompt.
    context: list[ScoredNode] = field(default_factory=list)
    memories: list[MemoryRef] = field(default_factory=list)
    #: False when the context did not hold the answer and the model said so.
    answerable: bool = True
    #: The model's own words when mmrag replaced them (e.g. an unsupported answer).
    raw_text: str = ""
    #: True when ``text`` quotes the context verbatim (the extractive answerer) rather
    #: than being written by a model: each quote is its citation's own words.
    extractive: bool = False
    #: Why mmrag rejected the model's draft (in ``raw_text``); empty when it did not.
    rejection: str = ""
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    #: Seconds per stage: retrieve, generate, total.
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.text,
            "answerable": self.answerable,
            "raw_text": self.raw_text,
            "extractive": self.extractive,
            "rejection": self.rejection,
            "citations": [c.to_dict() for c in self.citations],
            "memories": [
                {"name": m.name, "category": m.category, "similarity": m.similarity}
                for m in self.memories
            ],
            "context": [s.to_dict() for s in self.context],
            "model": self.model,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "timings": self.timings,
        }
