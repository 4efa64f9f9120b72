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
- ``retrieval``: 1 / the rank of its context item;
- ``in_ranked_chunk``: 1 when it is in the chunk retrieval ranked, 0 when it comes from
  the rest of that chunk's page (read whole: see :func:`whole_pages`);
- ``similarity_gap``: its similarity minus the best of the question's candidates;
- ``length``: log(1 + its words): a longer sentence or row says more, and more often
  holds the asked-for figure.

Weights, bias and bar are settings (:class:`mmrag.config.ExtractiveConfig`), fitted on
half of MMLongBench-Doc dev by ``benchmarks/extractive.py`` and checked on the other half.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from mmrag.generate import notes
from mmrag.generate.passages import Unit, coverage, question_terms, rarity, split_units, words
from mmrag.generate.prompt import Prompt, location
from mmrag.generate.quoting import clip, quotes
from mmrag.generate.templates import PromptTemplates
from mmrag.models.text_embed import TextEmbedder
from mmrag.retrieve.selection import too_far
from mmrag.schema import Answer, Citation, MemoryRef, NodeKind, ScoredNode

if TYPE_CHECKING:  # mmrag.config imports this package's templates
    from mmrag.config import ExtractiveConfig

FEATURES = (
    "coverage",
    "similarity",
    "type_match",
    "novelty",
    "retrieval",
    "in_ranked_chunk",
    "similarity_gap",
    "length",
)

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

#: (source, page) pairs -> each page's text chunks in reading order (Store.page_texts).
PageReader = Callable[[Sequence[tuple[str, int]]], Mapping[tuple[str, int], Sequence[str]]]


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


def whole_pages(
    context: Sequence[ScoredNode], page_texts: Mapping[tuple[str, int], Sequence[str]]
) -> dict[int, Sequence[str]]:
    """Context index -> its page's text chunks, for the first text item of each page.

    Retrieval ranks chunks and keeps one per page, but the sentence that answers is often
    in the same page's next chunk: on MMLongBench dev, the gold is in the retrieved chunks
    for 30% of questions and in the whole pages they come from for 49%.
    """
    found: dict[int, Sequence[str]] = {}
    seen: set[tuple[str, int]] = set()
    for i, item in enumerate(context):
        node = item.node
        if node.kind != NodeKind.TEXT or node.page is None:
            continue
        key = (node.source, node.page)
        if key in page_texts and key not in seen:
            seen.add(key)
            found[i] = page_texts[key]
    return found


def candidates(
    question: str,
    context: Sequence[ScoredNode],
    embedder: TextEmbedder | None,
    memories: Sequence[MemoryRef] = (),
    pages: Mapping[int, Sequence[str]] | None = None,
) -> list[Candidate]:
    """Every sentence and row of ``context`` (then of the user's ``memories``, numbered
    after it) with its features, not yet scored. ``pages`` gives, for some context
    items, the text chunks of their whole page to read instead of the item's own text."""
    units = _units(context, memories, pages or {})
    if not units:
        return []
    asked = set(words(question))
    weights = rarity(question_terms(question), units)
    kind = expected_kind(question)
    similarities = _similarities(question, units, embedder)
    closest = max(similarities)
    # Sentences of the chunks retrieval ranked, as against the rest of their pages.
    ranked = {u.text for i, item in enumerate(context) for u in split_units(item.node.text, i)}
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
                    "in_ranked_chunk": float(unit.text in ranked or unit.item >= len(context)),
                    "similarity_gap": similarity - closest,
                    "length": math.log1p(len(unit.text.split())),
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
        read_pages: PageReader | None = None,
    ) -> None:
        self.embedder = embedder
        self.settings = settings
        self.templates = templates
        self.min_similarity = min_similarity
        self.read_pages = read_pages

    def answer(self, question: str, prompt: Prompt) -> Answer:
        # An up-front refusal reads no pages from the store.
        refused = self._refused_up_front(prompt.context, prompt.memories)
        pages = {} if refused else self.pages(prompt.context)
        chosen = self.choose(question, prompt.context, prompt.memories, pages)
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
        for unit, quote in quotes([c.unit for c in chosen], prompt.context, pages):
            if unit.item >= len(prompt.context):
                memory = prompt.memories[unit.item - len(prompt.context)]
                lines.append(f"“{clip(quote)}” (what you told me about {memory.name})")
                continue
            number = unit.item + 1
            item = prompt.context[unit.item]
            citations.setdefault(number, Citation(number=number, node=item.node))
            lines.append(f"“{clip(quote)}” ({location(item)}) [{number}]")
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

    def _refused_up_front(
        self, context: Sequence[ScoredNode], memories: Sequence[MemoryRef]
    ) -> bool:
        """Nothing to quote from: no memories, and no context or none close enough."""
        return not memories and (not context or too_far(context, self.min_similarity))

    def pages(self, context: Sequence[ScoredNode]) -> dict[int, Sequence[str]]:
        """What :meth:`choose` reads instead of some items' own text (:func:`whole_pages`),
        when this answerer reads whole pages."""
        if self.read_pages is None or not context:
            return {}
        return whole_pages(context, self.read_pages(_page_keys(context)))

    def choose(
        self,
        question: str,
        context: Sequence[ScoredNode],
        memories: Sequence[MemoryRef] = (),
        pages: Mapping[int, Sequence[str]] | None = None,
    ) -> list[Candidate]:
        """The candidates to quote, best first: at most ``max_quotes``, each passing the bar.

        ``pages`` (see :func:`whole_pages`) defaults to what ``read_pages`` finds."""
        if self._refused_up_front(context, memories):
            return []
        if pages is None:
            pages = self.pages(context)
        found = candidates(question, context, self.embedder, memories, pages)
        for candidate in found:
            candidate.score = score(candidate, self.settings)
        # The user's note about a concept the question names, where it holds what is
        # asked, comes first and in its own order (mmrag.generate.notes); then the
        # best-scored candidates that pass the bar.
        names, kind = notes.named(question, memories), expected_kind(question)
        asked = notes.asked_terms(question, memories) if names else set()
        from_notes = [
            c
            for c in found
            if c.unit.item - len(context) in names and notes.holds_answer(asked, c.unit, kind)
        ]
        passing = [c for c in sorted(found, key=lambda c: -c.score) if c.score >= self.settings.bar]
        chosen: list[Candidate] = []
        for candidate in from_notes + passing:
            if len(chosen) >= self.settings.max_quotes:
                break
            if all(candidate.unit.text != c.unit.text for c in chosen):
                chosen.append(candidate)
        return chosen


def _units(
    context: Sequence[ScoredNode],
    memories: Sequence[MemoryRef],
    pages: Mapping[int, Sequence[str]],
) -> list[Unit]:
    """Each item's sentences and rows, once: a page read whole also holds the text of
    its other retrieved chunks, and overlapping chunks repeat sentences."""
    seen: set[str] = set()
    units = []
    texts = [pages.get(i, [item.node.text]) for i, item in enumerate(context)]
    texts += [[_memory_text(m)] for m in memories]
    for i, chunks in enumerate(texts):
        for chunk in chunks:
            for unit in split_units(chunk, i):
                if unit.text not in seen:
                    seen.add(unit.text)
                    units.append(unit)
    return units


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


def _page_keys(context: Sequence[ScoredNode]) -> list[tuple[str, int]]:
    return [
        (c.node.source, c.node.page)
        for c in context
        if c.node.kind == NodeKind.TEXT and c.node.page is not None
    ]
