"""Answering multiple-choice questions three ways, with or without the user's memories.

- ``generate``: the model reads lettered options and writes a letter. Small models answer
  "A" to nearly everything, so evaluate it in every option order (order-free).
- ``likelihood``: each option scored by log P(option | memories, question) — order-free
  by construction; needs a backend that scores continuations (llama.cpp).
- ``similarity``: each "question + option" embedded and compared with the memories' info
  (the text embedder); the offline method that actually reads the memory: 0.60 on RAP's
  text-only questions where free generation with SmolLM2-135M scores 0.03 (both orders).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from mmrag.errors import ConfigError
from mmrag.models.mllm import MLLM, ContinuationScorer, GenerationOptions, Message
from mmrag.models.text_embed import TextEmbedder
from mmrag.schema import MemoryRef


class ChoiceMethod(StrEnum):
    GENERATE = "generate"
    LIKELIHOOD = "likelihood"
    SIMILARITY = "similarity"


@dataclass(slots=True)
class Choice:
    #: The chosen option's key ("A", "B", …), or None when the model's reply names none.
    key: str | None
    scores: dict[str, float]


def memory_block(memories: Sequence[MemoryRef]) -> str:
    return "\n".join(f"Name: {m.name}, Info: {m.info}" for m in memories)


def choose(
    question: str,
    options: Mapping[str, str],
    *,
    method: ChoiceMethod,
    memories: Sequence[MemoryRef] = (),
    generator: MLLM | None = None,
    embedder: TextEmbedder | None = None,
) -> Choice:
    if method == ChoiceMethod.SIMILARITY:
        if embedder is None:
            raise ConfigError("similarity choice needs a text embedder")
        return _by_similarity(question, options, memories, embedder)
    if generator is None:
        raise ConfigError(f"{method} choice needs a generator")
    if method == ChoiceMethod.LIKELIHOOD:
        return _by_likelihood(question, options, memories, generator)
    return _by_generation(question, options, memories, generator)


def _messages(question: str, memories: Sequence[MemoryRef], body: str) -> list[Message]:
    system = "Answer the question about the user's own things."
    if memories:
        system += "\n" + memory_block(memories)
    return [Message.text("system", system), Message.text("user", body)]


def _by_generation(
    question: str, options: Mapping[str, str], memories: Sequence[MemoryRef], generator: MLLM
) -> Choice:
    lettered = "\n".join(f"{key}. {text}" for key, text in options.items())
    body = f"{question}\n{lettered}\nAnswer with the letter of the correct option only."
    reply = generator.generate(
        _messages(question, memories, body), GenerationOptions(max_tokens=4)
    ).text
    match = re.search(r"\b([A-Z])\b", reply.strip().upper())
    key = match.group(1) if match and match.group(1) in options else None
    if key is None:  # the model may write the option's text instead of its letter
        key = next((k for k, text in options.items() if text.lower() in reply.lower()), None)
    return Choice(key, {k: float(k == key) for k in options})


def _by_likelihood(
    question: str, options: Mapping[str, str], memories: Sequence[MemoryRef], generator: MLLM
) -> Choice:
    if not isinstance(generator, ContinuationScorer):
        raise ConfigError(f"{generator.name} cannot score answers by likelihood")
    messages = _messages(question, memories, question)
    scores = {k: generator.continuation_logprob(messages, text) for k, text in options.items()}
    return Choice(max(scores, key=scores.__getitem__), scores)


def _by_similarity(
    question: str, options: Mapping[str, str], memories: Sequence[MemoryRef], embedder: TextEmbedder
) -> Choice:
    if not memories:
        # Nothing to compare with: every option is equally supported.
        return Choice(None, dict.fromkeys(options, 0.0))
    facts = embedder.embed([f"{m.name} is a {m.category}. {m.info}" for m in memories])
    keys = list(options)
    asked = embedder.embed([f"{question} {options[k]}" for k in keys])
    sims = (asked @ facts.T).max(axis=1)
    scores = {k: float(s) for k, s in zip(keys, sims, strict=True)}
    return Choice(keys[int(np.argmax(sims))], scores)


def letters(n: int) -> list[str]:
    return list(string.ascii_uppercase[:n])
