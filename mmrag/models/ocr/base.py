"""The OCR seam: text found in images (scanned pages, charts, slides, photos of signs)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from PIL import Image

from mmrag.registry import Registry


@dataclass(slots=True)
class OcrResult:
    """Recognised lines in reading order, with their confidences."""

    lines: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@runtime_checkable
class OcrEngine(Protocol):
    @property
    def name(self) -> str: ...

    def recognize(self, images: Sequence[Image.Image]) -> list[OcrResult]: ...


ocr_engines: Registry[OcrEngine] = Registry("ocr_engines")
