"""Turning loaded documents into stored nodes: OCR, chunking, image features, summaries, embeddings.

Work is batched across a whole commit group so each model sees large batches, and OCR is
done once per distinct image even when many documents repeat it (logos, slide templates).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
from PIL import Image

from mmrag.components import Components
from mmrag.errors import MmragError
from mmrag.ingest.document import DocImage, LoadedDocument, TextBlock
from mmrag.models.summarize import ImageContext
from mmrag.schema import Node, NodeKind, make_node_id
from mmrag.store.documents import DocumentRow
from mmrag.timing import StageTimer

logger = logging.getLogger(__name__)

#: Distinct images whose OCR text is remembered across commit groups within one run.
_OCR_CACHE_SIZE = 4096


@dataclass(slots=True)
class PendingDoc:
    """A loaded file waiting to be enriched and committed."""

    user: str
    doc_id: str
    doc: LoadedDocument


@dataclass(slots=True)
class EnrichedBatch:
    nodes: list[Node] = field(default_factory=list)
    images: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    nodes_per_source: dict[str, int] = field(default_factory=dict)
    documents: list[DocumentRow] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


StageCallback = Callable[[str], None]
#: ``(done, total)`` within the current stage, so a long stage shows it is moving.
StepCallback = Callable[[int, int], None]
#: Chunks embedded per call: small enough that progress moves every second or two.
_EMBED_STEP = 64
#: What an embedding call returns for a slice of texts.
_Embedded = TypeVar("_Embedded")


def gets_text_vectors(kind: NodeKind, text: str | None) -> bool:
    """Whether a node is embedded by the text embedders: any with text but an image (its
    summary node carries its text)."""
    return bool(text) and kind != NodeKind.IMAGE


class Enricher:
    def __init__(self, components: Components, timer: StageTimer | None = None) -> None:
        self.c = components
        self.timer = timer or StageTimer()
        self._ocr_cache: dict[str, str] = {}

    def enrich(
        self,
        docs: Sequence[PendingDoc],
        on_stage: StageCallback | None = None,
        on_step: StepCallback | None = None,
    ) -> EnrichedBatch:
        stage = on_stage or (lambda _: None)
        out = EnrichedBatch()
        images = self._images_to_index(docs)
        stage(f"OCR of {sum(len(p.doc.scans) for p in docs)} scans, {len(images)} images")
        with self.timer.stage("ocr_scans"):
            scan_texts = self._ocr_scans(docs, out)
        with self.timer.stage("ocr_images"):
            image_texts = self._ocr_images(images, out)
        stage("chunking text")
        with self.timer.stage("chunking"):
            for pending in docs:
                blocks = _merge_scans(pending.doc.blocks, scan_texts.get(id(pending.doc), {}))
                out.nodes.extend(self._text_nodes(pending, blocks))
        if images:
            stage(f"image features and summaries of {len(images)} images")
            with self.timer.stage("image_features"):
                out.nodes.extend(self._image_nodes(images, image_texts, out))
        texts = [n for n in out.nodes if gets_text_vectors(n.kind, n.text)]
        chunks = [n.text for n in texts]
        stage(f"embedding {len(texts)} chunks")
        with self.timer.stage("text_embedding"):
            if (token_embedder := self.c.token_embedder) is not None:
                # Late interaction's token vectors come from the same forward pass.
                both = self._in_slices(token_embedder.embed_with_tokens, chunks, on_step)
                vectors = np.concatenate([pooled for pooled, _ in both])
                for node, matrix in zip(texts, (t for _, ts in both for t in ts), strict=True):
                    node.token_vectors = matrix
            else:
                vectors = np.concatenate(
                    self._in_slices(self.c.text_embedder.embed, chunks, on_step)
                )
        for node, vector in zip(texts, vectors, strict=True):
            node.text_vector = vector
        if (second := self.c.second_embedder) is not None:
            stage(f"second embedding of {len(texts)} chunks ({second.name})")
            with self.timer.stage("second_embedding"):
                vectors = np.concatenate(self._in_slices(second.embed, chunks, on_step))
            for node, vector in zip(texts, vectors, strict=True):
                node.second_vector = vector
        for node in out.nodes:
            out.nodes_per_source[node.source] = out.nodes_per_source.get(node.source, 0) + 1
        out.documents = [_document_row(p, out.nodes) for p in docs]
        return out

    def _in_slices(
        self,
        embed: Callable[[list[str]], _Embedded],
        texts: list[str],
        on_step: StepCallback | None,
    ) -> list[_Embedded]:
        """``embed`` over ``texts`` a slice at a time, so that progress can be shown: a
        group of files used to sit at "0 files done" for the whole of its embedding."""
        if on_step is None or len(texts) <= _EMBED_STEP:
            parts = [embed(texts)]
            if on_step is not None:
                on_step(len(texts), len(texts))
            return parts
        parts = []
        on_step(0, len(texts))
        for start in range(0, len(texts), _EMBED_STEP):
            parts.append(embed(texts[start : start + _EMBED_STEP]))
            on_step(min(start + _EMBED_STEP, len(texts)), len(texts))
        return parts

    # -- OCR --------------------------------------------------------------------------

    def _ocr_scans(
        self, docs: Sequence[PendingDoc], out: EnrichedBatch
    ) -> dict[int, dict[int, str]]:
        """OCR text of scanned pages, by document (object id) and page number."""
        found: dict[int, dict[int, str]] = {}
        if self.c.ocr is None:
            return found
        jobs = [(p.doc, scan) for p in docs for scan in p.doc.scans]
        texts = self._recognize(
            [scan.image for _, scan in jobs], [f"{d.source} p.{s.page}" for d, s in jobs], out
        )
        for (doc, scan), text in zip(jobs, texts, strict=True):
            found.setdefault(id(doc), {})[scan.page] = text
        return found

    def _ocr_images(
        self, images: Sequence[tuple[PendingDoc, DocImage]], out: EnrichedBatch
    ) -> dict[str, str]:
        texts: dict[str, str] = {}
        if self.c.ocr is None or not self.c.config.ingest.ocr_images:
            return texts
        todo: dict[str, tuple[Image.Image, str]] = {}
        for pending, im in images:
            if im.skip_ocr:
                continue
            if im.image_id in self._ocr_cache:
                texts[im.image_id] = self._ocr_cache[im.image_id]
            else:
                todo.setdefault(
                    im.image_id, (im.image, f"{pending.doc.source} image {im.image_id[:8]}")
                )
        keys = list(todo)
        results = self._recognize([todo[k][0] for k in keys], [todo[k][1] for k in keys], out)
        for key, text in zip(keys, results, strict=True):
            texts[key] = text
            if len(self._ocr_cache) < _OCR_CACHE_SIZE:
                self._ocr_cache[key] = text
        return texts

    def _recognize(
        self, images: list[Image.Image], labels: list[str], out: EnrichedBatch
    ) -> list[str]:
        assert self.c.ocr is not None
        texts = []
        for image, label in zip(images, labels, strict=True):
            try:
                texts.append(self.c.ocr.recognize([image])[0].text)
            except MmragError as exc:  # one bad image must not sink the batch
                out.warnings.append(f"{label}: OCR failed ({exc})")
                texts.append("")
        return texts

    # -- nodes ------------------------------------------------------------------------

    def _text_nodes(self, pending: PendingDoc, blocks: list[TextBlock]) -> list[Node]:
        nodes: list[Node] = []
        seen: dict[tuple[int | None, str], int] = {}
        title = pending.doc.metadata.get("title")
        for block in blocks:
            for chunk in self.c.chunker.split(block.text):
                key = (block.page, chunk)
                occurrence = seen.get(key, 0)
                seen[key] = occurrence + 1
                meta = {**block.metadata, "chunk": len(nodes)}
                if title:
                    meta["title"] = title
                nodes.append(
                    Node(
                        id=make_node_id(
                            user=pending.user,
                            source=pending.doc.source,
                            kind=NodeKind.TEXT,
                            page=block.page,
                            content=chunk,
                            occurrence=occurrence,
                        ),
                        kind=NodeKind.TEXT,
                        doc_id=pending.doc_id,
                        source=pending.doc.source,
                        page=block.page,
                        text=chunk,
                        user=pending.user,
                        metadata=meta,
                    )
                )
        return nodes

    def _images_to_index(self, docs: Sequence[PendingDoc]) -> list[tuple[PendingDoc, DocImage]]:
        if not self.c.indexes_images:
            return []
        return [(p, im) for p in docs for im in p.doc.images]

    def _image_nodes(
        self,
        images: Sequence[tuple[PendingDoc, DocImage]],
        ocr_texts: dict[str, str],
        out: EnrichedBatch,
    ) -> list[Node]:
        pil = [im.image for _, im in images]
        vectors = self.c.image_embedder.embed_images(pil) if self.c.image_embedder else None
        contexts = [
            ImageContext(ocr_text=ocr_texts.get(im.image_id, ""), caption=im.caption)
            for _, im in images
        ]
        if self.c.summarizer is not None:
            summaries = self.c.summarizer.summarize(pil, contexts)
        else:
            summaries = ["\n".join(x for x in (c.caption, c.ocr_text) if x) for c in contexts]
        nodes = []
        for i, (pending, im) in enumerate(images):
            out.images[im.image_id] = (im.data, im.format)
            meta = {**im.metadata, "ocr_chars": len(contexts[i].ocr_text)}
            image_node = _image_node(pending, im, NodeKind.IMAGE, im.caption, meta)
            if vectors is not None:
                image_node.image_vector = vectors[i]
            nodes.append(image_node)
            if summaries[i].strip():
                nodes.append(_image_node(pending, im, NodeKind.IMAGE_SUMMARY, summaries[i], meta))
        return nodes


def _image_node(
    pending: PendingDoc, im: DocImage, kind: NodeKind, text: str, metadata: dict[str, object]
) -> Node:
    """An image node (pixels, image vector) or its summary node (text), sharing image_id."""
    return Node(
        id=make_node_id(
            user=pending.user,
            source=pending.doc.source,
            kind=kind,
            page=im.page,
            content=im.image_id,
        ),
        kind=kind,
        doc_id=pending.doc_id,
        source=pending.doc.source,
        page=im.page,
        text=text,
        image_id=im.image_id,
        user=pending.user,
        metadata=dict(metadata),
    )


def _document_row(pending: PendingDoc, nodes: Sequence[Node]) -> DocumentRow:
    """The whole document as one text (chunks and image summaries in page order)."""
    own = [n for n in nodes if n.source == pending.doc.source and n.kind != NodeKind.IMAGE]
    own.sort(key=lambda n: (n.page or 0, n.kind != NodeKind.TEXT))
    text = "\n".join(n.text for n in own)
    title = str(pending.doc.metadata.get("title") or "")
    if not title:
        title = next((line.strip() for line in text.splitlines() if line.strip()), "")[:200]
    return DocumentRow(
        user=pending.user,
        source=pending.doc.source,
        doc_id=pending.doc_id,
        title=title,
        pages=pending.doc.pages,
        text=text,
    )


def _merge_scans(blocks: list[TextBlock], scan_texts: dict[int, str]) -> list[TextBlock]:
    """Native text blocks plus OCR text of scanned pages, in page order."""
    if not scan_texts:
        return blocks
    by_page = {b.page: b for b in blocks}
    merged = list(blocks)
    for page, text in scan_texts.items():
        if not text.strip():
            continue
        native = by_page.get(page)
        if native is not None:
            native.text = f"{native.text.strip()}\n{text}"
            native.metadata["ocr"] = True
        else:
            merged.append(TextBlock(text=text, page=page, metadata={"ocr": True}))
    return sorted(merged, key=lambda b: b.page or 0)
