"""mmrag's loaders as a LlamaIndex ``BaseReader``: Documents and ImageDocuments."""

from __future__ import annotations

import base64
import logging
from collections import Counter
from collections.abc import Iterator
from functools import cached_property
from pathlib import Path
from typing import Any

from llama_index.core.readers.base import BaseReader
from llama_index.core.schema import Document, ImageDocument

from mmrag.components import Components
from mmrag.config import DEFAULT_PIPELINE, IngestConfig, PipelineConfig, load_pipeline
from mmrag.errors import MmragError
from mmrag.ingest.discover import discover
from mmrag.ingest.document import LoadedDocument, TextBlock
from mmrag.ingest.loading import load_file
from mmrag.ingest.scope import ReadScope
from mmrag.llama_index.nodes import HIDDEN_KEYS
from mmrag.models.ocr import OcrEngine
from mmrag.schema import NodeKind, make_node_id

logger = logging.getLogger(__name__)

_FLAT = (str, int, float, bool)


class MmragReader(BaseReader):
    """Read files the way mmrag ingests them, for a LlamaIndex index.

    PDFs give one ``Document`` per page, scanned pages read by OCR; Markdown and HTML give
    their text and the images they show; photos give an ``ImageDocument``; .docx, .pptx
    and .epub (with the ``office`` extra) give text by section, slide or chapter. Every
    embedded or linked image becomes an ``ImageDocument`` (base64 PNG/JPEG) whose text is
    its caption and the text OCR reads in it. Metadata: ``source``, ``file_name``,
    ``page`` (when the format has pages), ``kind``. Ids are stable across runs, so
    re-reading an unchanged file upserts rather than duplicates.

    Works as a ``SimpleDirectoryReader`` file extractor too::

        reader = MmragReader()
        docs = reader.load_data("report.pdf")
        docs = SimpleDirectoryReader("docs/", file_extractor={".pdf": reader}).load_data()
    """

    def __init__(
        self,
        pipeline: PipelineConfig | str | Path | None = None,
        *,
        ocr: bool = True,
        images: bool = True,
    ) -> None:
        """``pipeline`` supplies the OCR engine and ingest settings (the offline default
        when omitted); ``ocr=False`` skips OCR, ``images=False`` yields text only."""
        if not isinstance(pipeline, PipelineConfig):
            pipeline = load_pipeline(pipeline or DEFAULT_PIPELINE)
        self.pipeline = pipeline
        self.settings: IngestConfig = pipeline.ingest
        self.use_ocr = ocr
        self.images = images

    @cached_property
    def ocr(self) -> OcrEngine | None:
        """The pipeline's OCR engine, loaded on first use (None: no OCR)."""
        return Components(self.pipeline).ocr if self.use_ocr else None

    def lazy_load_data(
        self, file: str | Path, extra_info: dict[str, Any] | None = None, **_: Any
    ) -> Iterator[Document]:
        """Documents of ``file``, or of every supported file under a directory.

        A file that cannot be read raises its :class:`~mmrag.errors.LoaderError` (one line
        naming the file and the reason); within a directory it is logged and skipped.
        """
        path = Path(file)
        if path.is_dir():
            # Images that documents link to are read from inside this folder only.
            scope = ReadScope.of([path])
            for found in discover([path]).files:
                try:
                    yield from self._documents(found, extra_info, scope)
                except MmragError as exc:
                    logger.warning("skipped %s", exc)
            return
        yield from self._documents(path, extra_info, None)

    def _documents(
        self, path: Path, extra_info: dict[str, Any] | None, scope: ReadScope | None
    ) -> Iterator[Document]:
        loaded = load_file(path, self.settings, scope)
        for warning in loaded.warnings:
            logger.warning("%s", warning)
        base = {**_file_meta(loaded), **(extra_info or {})}
        seen: Counter[tuple[int | None, str]] = Counter()
        for block in self._with_ocr(loaded):
            meta = {**base, **_flat(block.metadata), "kind": NodeKind.TEXT.value}
            if block.page is not None:
                meta |= {"page": block.page, "page_label": str(block.page)}
            # The same text twice on a page (a repeated notice) still needs two ids.
            occurrence = seen[(block.page, block.text)]
            seen[(block.page, block.text)] += 1
            yield _document(
                Document, loaded.source, NodeKind.TEXT, block.page, block.text, meta, occurrence
            )
        if not self.images:
            return
        read = self._read_images(loaded)
        for image in loaded.images:
            text = "\n".join(t for t in (image.caption, read.get(image.image_id, "")) if t)
            meta = {**base, **_flat(image.metadata), "kind": NodeKind.IMAGE.value}
            meta |= {"image_id": image.image_id, "caption": image.caption}
            if image.page is not None:
                meta |= {"page": image.page, "page_label": str(image.page)}
            yield _document(
                ImageDocument,
                loaded.source,
                NodeKind.IMAGE,
                image.page,
                image.image_id,
                meta,
                0,  # images are stored once per document already
                text=text,
                image=base64.b64encode(image.data).decode("ascii"),
                image_mimetype=f"image/{image.format}",
            )

    def _read_images(self, loaded: LoadedDocument) -> dict[str, str]:
        """OCR text of the document's images, in one batch (a scan's own page image is
        read as the page already)."""
        todo = [im for im in loaded.images if not im.skip_ocr]
        if self.ocr is None or not todo:
            return {}
        results = self.ocr.recognize([im.image for im in todo])
        return {im.image_id: r.text for im, r in zip(todo, results, strict=True)}

    def _with_ocr(self, loaded: LoadedDocument) -> list[TextBlock]:
        """Native text blocks plus the OCR text of scanned pages, in page order."""
        blocks = list(loaded.blocks)
        if not loaded.scans:
            return blocks
        if self.ocr is None:
            logger.warning(
                "%s: %d scanned page(s) left unread (no OCR)", loaded.source, len(loaded.scans)
            )
            return blocks
        by_page = {b.page: b for b in blocks}
        for scan, result in zip(
            loaded.scans, self.ocr.recognize([s.image for s in loaded.scans]), strict=True
        ):
            if not result.text.strip():
                continue
            native = by_page.get(scan.page)
            if native is not None:
                merged = f"{native.text.strip()}\n{result.text}"
                by_page[scan.page] = TextBlock(merged, scan.page, {**native.metadata, "ocr": True})
                blocks[blocks.index(native)] = by_page[scan.page]
            else:
                blocks.append(TextBlock(text=result.text, page=scan.page, metadata={"ocr": True}))
        return sorted(blocks, key=lambda b: b.page or 0)


def _document(
    cls: type[Document],
    source: str,
    kind: NodeKind,
    page: int | None,
    content: str,
    metadata: dict[str, Any],
    occurrence: int,
    **fields: Any,
) -> Document:
    """A (Image)Document whose id is stable: the same file read twice gives the same ids."""
    if "text" not in fields:
        fields["text"] = content
    hidden = [k for k in HIDDEN_KEYS if k in metadata]
    return cls(
        id_=make_node_id(
            user="", source=source, kind=kind, page=page, content=content, occurrence=occurrence
        ),
        metadata=metadata,
        excluded_llm_metadata_keys=hidden,
        excluded_embed_metadata_keys=hidden,
        **fields,
    )


def _file_meta(loaded: LoadedDocument) -> dict[str, Any]:
    meta = {"source": loaded.source, "file_name": Path(loaded.source).name}
    return meta | _flat(loaded.metadata)


def _flat(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if isinstance(v, _FLAT)}
