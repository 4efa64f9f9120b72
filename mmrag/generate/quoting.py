"""What an extractive answer shows: whole sentences of the sources, each once.

The extractive answerer (:mod:`mmrag.generate.extractive`) ranks sentences and table
rows as the page gives them. Where a page wraps its prose, those are visual lines, and a
quote cut mid-line can miss the very figure asked for; this module grows each chosen
line to the sentences it is part of before it is quoted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from mmrag.generate.passages import Unit, is_prose, split_units
from mmrag.schema import ScoredNode

_MAX_QUOTE_CHARS = 400
#: Words in a row that a unit and a sentence must share to be the same text.
_SHINGLE = 4


def quotes(
    chosen: Sequence[Unit],
    context: Sequence[ScoredNode],
    pages: Mapping[int, Sequence[str]],
) -> list[tuple[Unit, str]]:
    """What to quote for each chosen unit: its whole sentences (see
    :func:`whole_sentences`), each sentence once; a unit whose sentences were all quoted
    already is dropped. ``pages`` holds the whole page read for some context items."""
    out: list[tuple[Unit, str]] = []
    quoted: set[str] = set()
    for unit in chosen:
        if unit.item >= len(context):  # what the user said about their own things
            out.append((unit, unit.text))
            continue
        chunks = pages.get(unit.item, [context[unit.item].node.text])
        sentences = [t for t in whole_sentences(unit, chunks) if t not in quoted]
        if not sentences:
            continue
        quoted.update(sentences)
        quote = " ".join(sentences)
        out.append((unit, quote if len(quote) <= _MAX_QUOTE_CHARS else unit.text))
    return out


def whole_sentences(unit: Unit, chunks: Sequence[str]) -> list[str]:
    """The whole sentences ``unit`` is part of, for quoting (none found: its own text).

    Units are visual lines where a page wraps its prose (and candidates are ranked as
    such: on MMLongBench dev, ranking joined sentences instead put the gold in fewer
    quotes), but a quote cut mid-sentence ("we measured that") can miss the very figure
    asked for. The sentences of ``chunks`` (the unit's context item, lines unwrapped)
    that share a run of words with the unit are quoted instead.
    """
    tokens = unit.text.split()
    if len(tokens) < _SHINGLE or not is_prose(unit.text):
        return [unit.text]  # a table row or a record is quoted as it stands
    shingles = set(_windows(tokens, _SHINGLE))
    for chunk in chunks:
        covering = [
            u.text
            for u in split_units(chunk, join_wrapped=True)
            if shingles.intersection(_windows(u.text.split(), _SHINGLE))
        ]
        if covering:
            return list(dict.fromkeys(covering))
    return [unit.text]


def _windows(tokens: list[str], n: int) -> Iterator[tuple[str, ...]]:
    return (tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def clip(text: str) -> str:
    """At most :data:`_MAX_QUOTE_CHARS`, cut at a word."""
    if len(text) <= _MAX_QUOTE_CHARS:
        return text
    return text[: _MAX_QUOTE_CHARS - 1].rsplit(" ", 1)[0] + "…"
