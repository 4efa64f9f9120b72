"""Offline image summaries: caption + what the image shows (ImageNet tags) + its OCR text.

A stand-in for an MLLM caption that runs anywhere: the OCR text carries nearly all the
retrieval value for charts, tables and slides; tags help photos a little.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from PIL import Image

from mmrag.models.image_embed import ImageTagger, image_embedders
from mmrag.models.summarize.base import ImageContext, image_summarizers
from mmrag.registry import BackendConfig


class OcrTagsConfig(BackendConfig):
    type: Literal["ocr-tags"] = "ocr-tags"
    #: Image backend whose ImageNet tags describe the picture ("efficientnet-lite0").
    tagger: str = "efficientnet-lite0"
    top_tags: int = 3
    #: ImageNet has no class for charts or slides; below this its guesses are noise.
    min_tag_probability: float = 0.25


@image_summarizers.register("ocr-tags", OcrTagsConfig)
class OcrTagsSummarizer:
    def __init__(self, config: OcrTagsConfig) -> None:
        self.config = config
        tagger = image_embedders.create(image_embedders.parse(config.tagger))
        if not isinstance(tagger, ImageTagger):
            raise TypeError(f"image backend '{config.tagger}' cannot tag images")
        self._tagger = tagger

    @property
    def name(self) -> str:
        return f"ocr-tags:{self.config.tagger}"

    def summarize(
        self, images: Sequence[Image.Image], contexts: Sequence[ImageContext]
    ) -> list[str]:
        tags = self._tagger.tag_images(images, top_k=self.config.top_tags) if images else []
        summaries = []
        for context, image_tags in zip(contexts, tags, strict=True):
            parts = []
            if context.caption:
                parts.append(f"Caption: {context.caption}")
            shown = [n for n, p in image_tags if p >= self.config.min_tag_probability]
            if shown:
                parts.append("Image showing: " + ", ".join(shown))
            if context.ocr_text:
                parts.append("Text in image: " + context.ocr_text)
            summaries.append("\n".join(parts) or "Image with no recognisable text.")
        return summaries
