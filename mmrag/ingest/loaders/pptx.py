"""PowerPoint (.pptx) loader (python-pptx): one text block per slide, slide number as page.

A slide's block holds its text frames, tables and chart data as rows, and its speaker
notes; pictures on the slide become images of that page. A chart is read from its data,
not its pixels: "Revenue | 2023 | 2024" rows retrieve better than OCR of a rendering.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from mmrag.config import IngestConfig
from mmrag.errors import LoaderError
from mmrag.ingest.document import LoadedDocument, TextBlock
from mmrag.ingest.loaders.base import register_loader
from mmrag.ingest.loaders.office_common import (
    add_image,
    ensure_content,
    open_container,
    reason,
    require,
    table_text,
)


class PptxLoader:
    extensions: tuple[str, ...] = (".pptx",)

    def load(self, path: Path, settings: IngestConfig) -> LoadedDocument:
        pptx = require("pptx", "python-pptx", path, "PowerPoint (.pptx)")
        presentation = open_container(path, "PowerPoint file", pptx.Presentation)
        title = str(presentation.core_properties.title or "").strip()
        out = LoadedDocument(source=str(path), metadata={"title": title} if title else {})
        try:
            for number, slide in enumerate(presentation.slides, start=1):
                out.pages = number
                _read_slide(slide, number, out, path, settings)
        except LoaderError:
            raise
        except Exception as exc:  # python-pptx raises plain errors on damaged content
            raise LoaderError(path, f"damaged PowerPoint file ({reason(exc, path)})") from exc
        return ensure_content(out, path, "presentation")


def _read_slide(
    slide: Any, number: int, out: LoadedDocument, path: Path, settings: IngestConfig
) -> None:
    parts: list[str] = []
    for shape in _shapes(slide.shapes):
        if getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            parts.append(shape.text_frame.text)
        if getattr(shape, "has_table", False) and shape.has_table:
            rows = [[cell.text for cell in row.cells] for row in shape.table.rows]
            parts.append(table_text(rows))
        if getattr(shape, "has_chart", False) and shape.has_chart:
            parts.append(_chart_text(shape.chart))
        image = _picture_blob(shape)
        if image is not None:
            add_image(
                out,
                image,
                origin=f"{path} slide {number} picture '{shape.name}'",
                settings=settings,
                page=number,
                caption=_alt_text(shape),
            )
    notes = _notes(slide)
    if notes:
        parts.append(f"Notes: {notes}")
    text = "\n".join(p for p in parts if p.strip())
    if text.strip():
        title_shape = slide.shapes.title
        title = title_shape.text_frame.text.strip() if title_shape is not None else ""
        out.blocks.append(
            TextBlock(text=text, page=number, metadata={"slide_title": title} if title else {})
        )


def _shapes(shapes: Iterable[Any]) -> Iterator[Any]:
    """Every shape, those inside groups included, in the slide's order."""
    for shape in shapes:
        inner = getattr(shape, "shapes", None)
        if inner is not None:
            yield from _shapes(inner)
        else:
            yield shape


def _picture_blob(shape: Any) -> bytes | None:
    try:
        image = shape.image  # pictures and picture placeholders; other shapes have none
    except (AttributeError, ValueError, KeyError):
        return None
    return bytes(image.blob)


def _alt_text(shape: Any) -> str:
    """The picture's alt text (description), else nothing: shape names are "Picture 3"."""
    try:
        properties = shape._element._nvXxPr.cNvPr
    except AttributeError:
        return ""
    return str(properties.get("descr") or properties.get("title") or "").strip()


def _chart_text(chart: Any) -> str:
    title = ""
    if chart.has_title and chart.chart_title.has_text_frame:
        title = chart.chart_title.text_frame.text.strip()
    rows: list[list[str]] = []
    for plot in chart.plots:
        categories = [str(c) for c in plot.categories]
        if not rows:
            rows.append(["", *categories])
        for series in plot.series:
            rows.append([str(series.name), *(_number(v) for v in series.values)])
    body = table_text(rows)
    return f"Chart: {title}\n{body}" if title else f"Chart\n{body}"


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _notes(slide: Any) -> str:
    if not slide.has_notes_slide:
        return ""
    frame = slide.notes_slide.notes_text_frame
    return str(frame.text).strip() if frame is not None else ""


register_loader(PptxLoader())
