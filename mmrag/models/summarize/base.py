"""The image-summarizer seam: retrievable text for an image.

"Beyond Text" found that text summaries of images usually retrieve better than image
embeddings; the summary is embedded and full-text indexed like any text chunk.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from PIL import Image

from mmrag.registry import Registry


@dataclass(slots=True)
class ImageContext:
    """What is known about an image besides its pixels."""

    ocr_text: str = ""
    #: Alt text, caption or file name from the document that holds the image.
    caption: str = ""


@runtime_checkable
class ImageSummarizer(Protocol):
    @property
    def name(self) -> str: ...

    def summarize(
        self, images: Sequence[Image.Image], contexts: Sequence[ImageContext]
    ) -> list[str]: ...


image_summarizers: Registry[ImageSummarizer] = Registry("image_summarizers")
