"""Reading ``[n]`` citations back out of an answer, and attributing uncited answers."""

from __future__ import annotations

import re
from collections.abc import Sequence

from mmrag.schema import Citation, ScoredNode

_MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
_STOP = frozenset(
    (
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "with",
        "which",
        "who",
        "what",
        "when",
        "where",
        "how",
        "why",
        "not",
        "no",
        "yes",
    )
)


def parse_citations(text: str, context: Sequence[ScoredNode]) -> tuple[str, list[Citation]]:
    """Valid citations in order of first use, and the text without invalid markers.

    A marker citing a number outside ``1..len(context)`` is removed from the text (it
    points at nothing the reader could check); valid numbers in it are kept.
    """
    cited: dict[int, Citation] = {}

    def keep_valid(match: re.Match[str]) -> str:
        numbers = [int(n) for n in re.split(r"\s*[,;]\s*", match.group(1))]
        valid = [n for n in numbers if 1 <= n <= len(context)]
        for n in valid:
            cited.setdefault(n, Citation(number=n, node=context[n - 1].node))
        return "[" + ", ".join(str(n) for n in valid) + "]" if valid else ""

    cleaned = _MARKER.sub(keep_valid, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip(), list(cited.values())


def infer_citations(
    text: str, context: Sequence[ScoredNode], *, min_shared: int = 2
) -> list[Citation]:
    """Context items sharing at least ``min_shared`` content words (or any number) with
    the answer, best first; marked ``inferred`` because the model did not cite them."""
    words = _content_words(text)
    if not words:
        return []
    scored = []
    for number, item in enumerate(context, start=1):
        shared = words & _content_words(item.node.text)
        numbers = {w for w in shared if any(c.isdigit() for c in w)}
        if len(shared) >= min_shared or numbers:
            scored.append((len(numbers) * 2 + len(shared), number, item))
    scored.sort(key=lambda t: (-t[0], t[1]))
    return [Citation(number=n, node=item.node, inferred=True) for _, n, item in scored[:3]]


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 1}


def is_supported(answer: str, question: str, evidence_texts: Sequence[str]) -> bool:
    """Does the answer's content come from the evidence (cited items, the user's memories)?

    Every number in the answer must appear in the evidence, and at least one content word
    the answer adds beyond the question must too. "The capital of Peru is Lima" over
    documents that never mention Lima fails; a copied sentence passes.
    """
    if not evidence_texts:
        return False
    evidence = set().union(*(_content_words(text) for text in evidence_texts))
    added = _content_words(answer) - _content_words(question)
    numbers = {w for w in added if any(c.isdigit() for c in w)}
    if not numbers <= evidence:
        return False
    return not added or bool(added & evidence)
