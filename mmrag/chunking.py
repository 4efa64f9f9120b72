"""Cutting text into chunks that fit the text embedder's window (LlamaIndex's splitter).

Chunks are measured with the embedder's own tokenizer, so every token of every chunk is
read by the embedder; nothing is silently truncated.

Two things keep the splitter linear on any input. Token counts of short pieces are
memoised: the splitter counts the tokens of every word of a sentence-less line one call
at a time, and words repeat (a 5 MB one-line file: 135 s of tokenizer calls, 18 s with
the cache). And punkt, the default sentence splitter, is kept for prose but not given
text with long runs without whitespace: on a line of "![![![…" it peels one sentence per
call and the splitter recurses on the rest, so 2 KB took 6 s and 80 KB overflowed the
stack; such text is cut at sentence punctuation by a regular expression instead.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

from mmrag.config import ChunkingConfig
from mmrag.errors import ConfigError
from mmrag.models.text_embed import TextEmbedder

#: Pieces up to this many characters have their token counts memoised.
_MEMO_CHARS = 64
#: A run of this many characters without whitespace is not prose punkt can split.
_LONG_RUN = re.compile(r"\S{200,}")
#: A sentence: anything up to and including its closing punctuation (and the spaces after).
_SENTENCE = re.compile(r"[^.!?。！？]*(?:[.!?。！？]+\s*|$)")


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
        # Imported here: llama_index.core takes seconds to import, and only ingestion
        # splits text (tests/test_cli_start.py keeps quick commands free of it).
        from llama_index.core.node_parser import SentenceSplitter

        self._splitter = SentenceSplitter(
            chunk_size=size,
            chunk_overlap=config.overlap_tokens,
            tokenizer=_memoised(embedder.tokenize),
            chunking_tokenizer_fn=_sentences(),
            include_metadata=False,
        )

    def split(self, text: str) -> list[str]:
        text = text.strip()
        if not text:
            return []
        return [c for c in self._splitter.split_text(text) if c.strip()]


def _memoised(tokenize: Callable[[str], list[int]]) -> Callable[[str], list[int]]:
    cached = functools.lru_cache(maxsize=1 << 16)(tokenize)

    def count(text: str) -> list[int]:
        return cached(text) if len(text) <= _MEMO_CHARS else tokenize(text)

    return count


def _sentences() -> Callable[[str], list[str]]:
    from llama_index.core.node_parser.text.utils import split_by_sentence_tokenizer

    punkt = split_by_sentence_tokenizer()

    def split(text: str) -> list[str]:
        if _LONG_RUN.search(text):
            return [s for s in _SENTENCE.findall(text) if s]
        return list(punkt(text))

    return split
