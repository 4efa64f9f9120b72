"""The model backends a pipeline names, built lazily and once."""

from __future__ import annotations

from functools import cached_property

from mmrag.chunking import Chunker
from mmrag.config import PipelineConfig
from mmrag.errors import ConfigError
from mmrag.models.image_embed import ImageEmbedder, image_embedders
from mmrag.models.mllm import MLLM, mllms
from mmrag.models.ocr import OcrEngine, ocr_engines
from mmrag.models.summarize import ImageSummarizer, image_summarizers
from mmrag.models.text_embed import TextEmbedder, TokenEmbedder, text_embedders


class Components:
    """Backends for one pipeline. Nothing loads until first used."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config

    @cached_property
    def text_embedder(self) -> TextEmbedder:
        return text_embedders.create(self.config.text_embedder)

    @cached_property
    def second_embedder(self) -> TextEmbedder | None:
        cfg = self.config.second_embedder
        return text_embedders.create(cfg) if cfg is not None else None

    @cached_property
    def token_embedder(self) -> TokenEmbedder | None:
        """The text embedder as the source of token vectors, when the pipeline keeps them
        (``late_interaction``)."""
        if not self.config.late_interaction:
            return None
        embedder = self.text_embedder
        if not isinstance(embedder, TokenEmbedder):
            raise ConfigError(
                f"pipeline '{self.config.name}': late_interaction needs a text_embedder "
                f"that gives token vectors (sentence-transformers, hashing); "
                f"{embedder.name} does not"
            )
        return embedder

    @cached_property
    def image_embedder(self) -> ImageEmbedder | None:
        cfg = self.config.image_embedder
        return image_embedders.create(cfg) if cfg is not None else None

    @cached_property
    def ocr(self) -> OcrEngine | None:
        cfg = self.config.ocr
        return ocr_engines.create(cfg) if cfg is not None else None

    @cached_property
    def summarizer(self) -> ImageSummarizer | None:
        cfg = self.config.summarizer
        return image_summarizers.create(cfg) if cfg is not None else None

    @cached_property
    def generator(self) -> MLLM:
        cfg = self.config.generator
        if cfg is None:
            raise ConfigError(
                f"pipeline '{self.config.name}' has no generator, so it cannot answer"
            )
        return mllms.create(cfg)

    @cached_property
    def chunker(self) -> Chunker:
        return Chunker(self.text_embedder, self.config.chunking)

    @property
    def indexes_images(self) -> bool:
        c = self.config
        return any(x is not None for x in (c.image_embedder, c.summarizer, c.ocr))
