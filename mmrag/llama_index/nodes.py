"""Converting between mmrag's nodes and LlamaIndex's, both ways.

mmrag -> LlamaIndex keeps what a citation needs in flat metadata (``source``,
``file_name``, ``page``, ``page_label``, ``kind``) and hides mmrag's ids from the LLM and
the embedder. LlamaIndex -> mmrag reads the same keys, and the ones LlamaIndex's own
readers write (``file_path``, ``page_label``), so foreign nodes can be scored by mmrag.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from llama_index.core.schema import (
    BaseNode,
    ImageNode,
    MetadataMode,
    NodeWithScore,
    TextNode,
)

from mmrag.schema import Node, NodeKind, ScoredNode

#: Metadata an LLM or embedder gains nothing from (ids, chunk counters, image sizes).
HIDDEN_KEYS = [
    "mmrag_id",
    "doc_id",
    "image_id",
    "user",
    "chunk",
    "width",
    "height",
    "ocr_chars",
    "link",
    "section_index",
    "file_name",
    "page_label",
]
_FLAT = (str, int, float, bool)


def citation_metadata(node: Node) -> dict[str, Any]:
    """Flat metadata for a LlamaIndex node: where it comes from and what it is."""
    meta: dict[str, Any] = {
        "source": node.source,
        "file_name": Path(node.source).name,
        "kind": node.kind.value,
        "mmrag_id": node.id,
        "doc_id": node.doc_id,
    }
    if node.page is not None:
        meta["page"] = node.page
        meta["page_label"] = str(node.page)
    if node.user:
        meta["user"] = node.user
    if node.image_id:
        meta["image_id"] = node.image_id
    # Vector stores keep flat values only; nested metadata is mmrag-internal anyway.
    meta.update({k: v for k, v in node.metadata.items() if isinstance(v, _FLAT) and k not in meta})
    return meta


def to_llama(item: ScoredNode, image: tuple[bytes, str] | None = None) -> NodeWithScore:
    """A LlamaIndex node with mmrag's relevancy score; images (and image summaries, which
    describe the same picture) become ``ImageNode``s carrying the stored image."""
    node = item.node
    meta = citation_metadata(node)
    common: dict[str, Any] = {
        "id_": node.id,
        "text": node.text,
        "metadata": meta,
        "excluded_llm_metadata_keys": [k for k in HIDDEN_KEYS if k in meta],
        "excluded_embed_metadata_keys": [k for k in HIDDEN_KEYS if k in meta],
    }
    out: TextNode
    if node.kind in (NodeKind.IMAGE, NodeKind.IMAGE_SUMMARY):
        if image is not None:
            data, fmt = image
            common["image"] = base64.b64encode(data).decode("ascii")
            common["image_mimetype"] = f"image/{fmt}"
        out = ImageNode(**common)
    else:
        out = TextNode(**common)
    return NodeWithScore(node=out, score=item.score)


def from_llama(
    node: BaseNode, *, rank: int, signal: str, score: float | None, rrf_k: int = 60
) -> ScoredNode:
    """An mmrag candidate for a foreign node, seen by one retriever (``signal``) at
    ``rank`` with ``score``; its fused score is the reciprocal rank a single list gives."""
    meta = node.metadata or {}
    text = node.get_content(metadata_mode=MetadataMode.NONE)
    kind = NodeKind.TEXT
    if isinstance(node, ImageNode):
        kind = NodeKind.IMAGE_SUMMARY if text.strip() else NodeKind.IMAGE
    source = str(
        meta.get("source")
        or meta.get("file_path")
        or meta.get("file_name")
        or node.ref_doc_id
        or ""
    )
    mmrag_node = Node(
        id=node.node_id,
        kind=kind,
        doc_id=str(node.ref_doc_id or source),
        source=source,
        page=_page(meta),
        text=text,
        metadata={"llama_index": True},
    )
    evidence = {signal: {"rank": float(rank), "score": float(score or 0.0)}}
    return ScoredNode(node=mmrag_node, score=1.0 / (rrf_k + rank), scores=evidence)


def _page(meta: dict[str, Any]) -> int | None:
    """The page as mmrag numbers them (1-based), from ``page`` or LlamaIndex's
    ``page_label`` — the latter only when it is a plain number ("iv" is no page index)."""
    for key in ("page", "page_label", "page_number"):
        value = meta.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
    return None
