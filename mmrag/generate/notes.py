"""The user's own notes about a concept the question names: when to quote them.

A memory's note ("<rex> (dog): Rex is a golden retriever who loves swimming in the
lake") is not a document sentence that may or may not be on topic: the question named
the concept (``<rex>``), and the note is what the user said about it. The extractive
answerer's score was fitted on document sentences, where most candidates are wrong, so
on its own it refuses "What does <rex> love?" although the note says so. A named note
is therefore quoted when

- the question asks for nothing beyond the concept itself ("What is <rex>?", "Tell me
  about <rex>", "Who is <bo>?"): the note is the answer; or
- one sentence of the note holds every term the question asks about ("What does <rex>
  love?": "love"), and a number when the question asks for one.

Otherwise ("How old is <rex>?" with no age in the note) the usual score decides, and
without other evidence the answer is a refusal, never the note passed off as an answer.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from mmrag.generate.passages import Unit, question_terms, words
from mmrag.memory.names import mentions, normalise
from mmrag.schema import MemoryRef

#: Words that ask for a description rather than say what is asked about.
DESCRIBE = frozenset(
    [
        *("tell", "me", "about", "describe", "explain", "introduce", "know", "who", "what"),
        *("is", "are", "was", "were", "do", "you"),
    ]
)
_DIGIT = re.compile(r"\d")


def named(question: str, memories: Sequence[MemoryRef]) -> set[int]:
    """Indexes of ``memories`` (with a note) that the question names, as ``<bo>`` or a
    plain ``bo``, the way retrieval matched them to it."""
    return {i for i, m in enumerate(memories) if m.info and mentions(question, normalise(m.name))}


def asked_terms(question: str, memories: Sequence[MemoryRef]) -> set[str]:
    """What the question asks about, besides the concepts it names and words that ask
    for a description."""
    names = {w for m in memories for w in words(m.name)}
    return question_terms(question) - names - DESCRIBE


def holds_answer(asked: set[str], unit: Unit, kind: str | None) -> bool:
    """Does this sentence of a named note answer a question that asks about ``asked``
    (:func:`asked_terms`) and for a ``kind`` of thing (``number``, ``name`` or None)?
    See the module docstring."""
    if not asked:
        return True
    if kind == "number" and not _DIGIT.search(unit.text):
        return False
    return asked <= unit.words
