"""Cutting text into chunks that fit the text embedder's window (LlamaIndex's splitter).

Chunks are measured with the embedder's own tokenizer, so every token of every chunk is
read by the embedder; nothing is silently truncated.
"""

from __future__ import annotations

from mmrag.config import ChunkingConfig
from mmrag.errors import ConfigError
from mmrag.models.text_embed import TextEmbedder


class Chunker:
    def __init__(self, embedder: TextEmbedder, config: ChunkingConfig) -> None:
        window = embedder.max_tokens
        size = config.chunk_tokens or window
        if size > window:
            raise ConfigError(
                f"chunking.chunk_tokens={size} is larger than the window of "
                f"{embedder.name} ({window} tokens); its tail would be ignored"
            )
        if config.overlap_tokens >= size:
            raise ConfigError("chunking.overlap_tokens must be smaller than the chunk size")
        self.chunk_tokens = size
        # Imported here: llama_index.core takes seconds to import, and only ingestion splits.
        from llama_index.core.node_parser import SentenceSplitter

        self._splitter = SentenceSplitter(
            chunk_size=size,
            chunk_overlap=config.overlap_tokens,
            tokenizer=embedder.tokenize,
            include_metadata=False,
        )

    def split(self, text: str) -> list[str]:
        text = text.strip()
        if not text:
            return []
        return [c for c in self._splitter.split_text(text) if c.strip()]
