"""Answers that quote the context: honest by construction, for models that cannot read.

The offline default's generator (SmolLM2-135M) cannot read a table or reason; asked
anyway, it writes fluent, wrong answers. The extractive answerer calls no model. It cuts
the retrieved context into sentences and table rows (:mod:`mmrag.generate.passages`),
scores each as an answer to the question, and quotes the best — each with its source and
page, a "here is where it says so" answer — or refuses when none passes its bar.

A candidate's score is a logistic function of signals that mean the same on any corpus:

- ``coverage``: the share of the question's terms it holds, rarer terms weighing more;
- ``similarity``: the pipeline's text embedder's cosine between question and candidate;
- ``type_match``: +1 when the question asks for a kind of thing (a number for "how many",
  "what percentage", "when"; a name for "who") and the candidate has one the question does
  not, -1 when it asks and the candidate has none, 0 when it does not ask;
- ``novelty``: the share of the candidate's words that are not the question's own (a
  heading that repeats the question answers nothing);
- ``retrieval``: 1 / the rank of its context item.

Weights, bias and bar are settings (:class:`mmrag.config.ExtractiveConfig`), fitted on
half of MMLongBench-Doc dev by ``benchmarks/extractive.py`` and checked on the other half.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from mmrag.generate.passages import Unit, coverage, question_terms, rarity, split_units, words
from mmrag.generate.prompt import Prompt, location
from mmrag.generate.templates import PromptTemplates
from mmrag.models.text_embed import TextEmbedder
from mmrag.schema import Answer, Citation, MemoryRef, ScoredNode

if TYPE_CHECKING:  # mmrag.config imports this package's templates
    from mmrag.config import ExtractiveConfig

FEATURES = ("coverage", "similarity", "type_match", "novelty", "retrieval")

_ASKS_NUMBER = re.compile(
    r"\b(how (many|much|long|old|far|often|large|big|high|tall)|what (percentage|percent|"
    r"proportion|share|number|year|date|time|amount|ratio|rate|age|size|price|value)|"
    r"when|which year|what is the (total|number|average|sum))\b",
    re.IGNORECASE,
)
_ASKS_NAME = re.compile(
    r"\b(who|whom|whose|which (company|person|country|city|organi[sz]ation))\b", re.I
)
_NUMBER = re.compile(r"\d")
#: Quantities and frequencies written in words ("every two days", "twice a week").
_NUMBER_WORDS = frozenset(
    [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "fifteen",
        "twenty",
        "thirty",
        "forty",
        "fifty",
        "hundred",
        "thousand",
        "million",
        "billion",
        "dozen",
        "half",
        "once",
        "twice",
        "daily",
        "weekly",
        "monthly",
        "yearly",
        "annually",
        "hourly",
    ]
)
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z]+")
_MAX_QUOTE_CHARS = 300


@dataclass(slots=True)
class Candidate:
    """A sentence or table row of the context, with what decides whether to quote it."""

    unit: Unit
    #: Feature name -> value, in :data:`FEATURES`.
    features: dict[str, float] = field(default_factory=dict)
    score: float = 0.0


def expected_kind(question: str) -> str | None:
    """``number`` or ``name`` when the question asks for one, else None."""
    if _ASKS_NUMBER.search(question):
        return "number"
    if _ASKS_NAME.search(question):
        return "name"
    return None


def candidates(
    question: str,
    context: Sequence[ScoredNode],
    embedder: TextEmbedder | None,
    memories: Sequence[MemoryRef] = (),
) -> list[Candidate]:
    """Every sentence and row of ``context`` (then of the user's ``memories``, numbered
    after it) with its features, not yet scored."""
    texts = [item.node.text for item in context] + [_memory_text(m) for m in memories]
    units = [u for i, text in enumerate(texts) for u in split_units(text, i)]
    if not units:
        return []
    asked = set(words(question))
    weights = rarity(question_terms(question), units)
    kind = expected_kind(question)
    similarities = _similarities(question, units, embedder)
    found = []
    for unit, similarity in zip(units, similarities, strict=True):
        new = [w for w in unit.words if w not in asked]
        found.append(
            Candidate(
                unit,
                {
                    "coverage": coverage(unit, weights),
                    "similarity": similarity,
                    "type_match": _type_match(kind, unit.text, asked),
                    "novelty": len(new) / len(unit.words) if unit.words else 0.0,
                    # Memories are picked for the question: they count as first.
                    "retrieval": 1.0 / (unit.item + 1) if unit.item < len(context) else 1.0,
                },
            )
        )
    return found


def score(candidate: Candidate, settings: ExtractiveConfig) -> float:
    z = settings.bias + sum(settings.weights.get(k, 0.0) * v for k, v in candidate.features.items())
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


class ExtractiveAnswerer:
    """Quotes the context's best sentences or rows, or refuses; calls no model."""

    def __init__(
        self,
        embedder: TextEmbedder | None,
        settings: ExtractiveConfig,
        templates: PromptTemplates,
        *,
        min_similarity: float = 0.0,
    ) -> None:
        self.embedder = embedder
        self.settings = settings
        self.templates = templates
        self.min_similarity = min_similarity

    def answer(self, question: str, prompt: Prompt) -> Answer:
        chosen = self.choose(question, prompt.context, prompt.memories)
        if not chosen:
            return Answer(
                question=question,
                text=self.templates.refusal,
                context=prompt.context,
                memories=prompt.memories,
                answerable=False,
                extractive=True,
            )
        lines: list[str] = []
        citations: dict[int, Citation] = {}
        for candidate in chosen:
            if candidate.unit.item >= len(prompt.context):
                memory = prompt.memories[candidate.unit.item - len(prompt.context)]
                lines.append(
                    f"“{_clip(candidate.unit.text)}” (what you told me about {memory.name})"
                )
                continue
            number = candidate.unit.item + 1
            item = prompt.context[candidate.unit.item]
            citations.setdefault(number, Citation(number=number, node=item.node))
            lines.append(f"“{_clip(candidate.unit.text)}” ({location(item)}) [{number}]")
        return Answer(
            question=question,
            text="\n".join(lines),
            citations=list(citations.values()),
            context=prompt.context,
            memories=prompt.memories,
            answerable=True,
            extractive=True,
        )

    def stream(self, question: str, prompt: Prompt) -> Iterator[str | Answer]:
        """The whole answer at once (nothing is generated), then the :class:`Answer`."""
        answer = self.answer(question, prompt)
        yield answer.text
        yield answer

    def choose(
        self,
        question: str,
        context: Sequence[ScoredNode],
        memories: Sequence[MemoryRef] = (),
    ) -> list[Candidate]:
        """The candidates to quote, best first: at most ``max_quotes``, each passing the bar."""
        if not memories and (not context or _too_far(context, self.min_similarity)):
            return []
        found = candidates(question, context, self.embedder, memories)
        for candidate in found:
            candidate.score = score(candidate, self.settings)
        found.sort(key=lambda c: -c.score)
        chosen: list[Candidate] = []
        for candidate in found:
            if candidate.score < self.settings.bar or len(chosen) >= self.settings.max_quotes:
                break
            if all(candidate.unit.text != c.unit.text for c in chosen):
                chosen.append(candidate)
        return chosen


def _memory_text(memory: MemoryRef) -> str:
    kind = f" ({memory.category})" if memory.category else ""
    return f"{memory.name}{kind}: {memory.info}"


def _similarities(
    question: str, units: Sequence[Unit], embedder: TextEmbedder | None
) -> list[float]:
    if embedder is None:
        return [0.0] * len(units)
    query = embedder.embed([question], is_query=True)[0]
    vectors = embedder.embed([u.text for u in units])
    return [
        float(v)
        for v in np.asarray(vectors, dtype=np.float32) @ np.asarray(query, dtype=np.float32)
    ]


def _type_match(kind: str | None, text: str, asked: set[str]) -> float:
    if kind is None:
        return 0.0
    if kind == "number":
        found = {w for w in words(text) if _NUMBER.search(w) or w in _NUMBER_WORDS}
    else:
        found = {m.group().lower() for m in _NAME.finditer(text)}
    return 1.0 if found - asked else -1.0


def _too_far(context: Sequence[ScoredNode], min_similarity: float) -> bool:
    """The same up-front refusal as the generator's: nothing retrieved is close enough."""
    similarities = [s.scores["text_vector"]["score"] for s in context if "text_vector" in s.scores]
    return min_similarity > 0 and bool(similarities) and max(similarities) < min_similarity


def _clip(text: str) -> str:
    if len(text) <= _MAX_QUOTE_CHARS:
        return text
    return text[: _MAX_QUOTE_CHARS - 1].rsplit(" ", 1)[0] + "…"
