"""The chunker: prose cut as LlamaIndex cuts it, and hostile text cut in linear time."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from llama_index.core.node_parser import SentenceSplitter

from mmrag.chunking import Chunker
from mmrag.config import ChunkingConfig


class CharTokens:
    """One token per visible character: punctuation costs tokens, as with WordPiece."""

    name = "chars"
    dim = 4
    max_tokens = 64

    def __init__(self) -> None:
        self.calls = 0

    def tokenize(self, text: str) -> list[int]:
        self.calls += 1
        return [ord(c) for c in text if not c.isspace()]

    def embed(self, texts: Sequence[str], *, is_query: bool = False) -> np.ndarray:
        return np.zeros((len(texts), self.dim), dtype=np.float32)


PROSE = (
    "Dr. Smith met the harbour master at 10 a.m. on Monday. They spoke about the tides! "
    "Was the lighthouse budget approved? Nobody knew, e.g. the clerk, the mayor; or anyone. "
) * 20


def test_prose_is_cut_exactly_as_llama_index_cuts_it() -> None:
    embedder = CharTokens()
    ours = Chunker(embedder, ChunkingConfig(overlap_tokens=8)).split(PROSE)
    theirs = SentenceSplitter(
        chunk_size=64, chunk_overlap=8, tokenizer=embedder.tokenize, include_metadata=False
    ).split_text(PROSE.strip())
    assert ours == theirs
    assert len(ours) > 10


def test_repeated_words_are_tokenized_once() -> None:
    embedder = CharTokens()
    Chunker(embedder, ChunkingConfig(overlap_tokens=0)).split("alpha beta gamma " * 5000)
    assert embedder.calls < 1000  # one call per word was 15,000


@pytest.mark.timeout(90)
@pytest.mark.parametrize("unit", ["![", "![ ", "a.b.", "?!", "x", "-", "word "])
def test_hostile_text_is_cut_in_linear_time_and_loses_nothing(unit: str) -> None:
    # 200 KB: "![" took 6 s for 2 KB and overflowed the stack at 80 KB before.
    text = unit * (200_000 // len(unit))
    chunks = Chunker(CharTokens(), ChunkingConfig(overlap_tokens=0)).split(text)
    assert all(len([c for c in chunk if not c.isspace()]) <= 64 for chunk in chunks)
    assert "".join(chunks).replace(" ", "") == text.replace(" ", "")
