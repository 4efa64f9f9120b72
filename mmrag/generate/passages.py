"""Cutting context text into the units a claim can sit in: sentences and table rows.

PDF text comes as lines; a table row is one line (``nobody:x:65534:65534:...``) or, when
the extractor puts each cell on its own line, a run of very short lines. Prose lines are
cut into sentences. Both the extractive answerer (which quotes units) and the claims
check (which looks for a claim beside the question's terms inside one unit) use them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mmrag.generate.citations import _STOP

_WORD = re.compile(r"[a-z0-9]+(?:[.,][0-9]+)*")
_FIGURE = re.compile(r"[-+$€£(]?\d[\d.,]*[%)]?")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])")
#: Lines of at most this many words are cells; adjacent cells are joined into one row.
_CELL_WORDS = 4
#: At most this many cell-lines are taken as the label of the longer line that follows.
_LABEL_LINES = 2
#: Longer lines are prose and are cut into sentences.
_PROSE_WORDS = 30
_MAX_UNIT_CHARS = 400
#: A line is prose cut mid-sentence only with at least this many words, this share of
#: them plain words (not figures, codes or paths).
_MIN_PROSE_WORDS = 5
_PROSE_SHARE = 0.6
_PROSE_TOKEN = re.compile(r"[(\[\"'“‘]?[A-Za-z][A-Za-z'’-]*[,;)\]\"'”’]?")

#: Words that say what kind of answer is wanted rather than what it is about.
GENERIC = frozenset(
    (
        "many",
        "much",
        "number",
        "numbers",
        "percentage",
        "percent",
        "total",
        "name",
        "names",
        "according",
        "does",
        "did",
        "do",
        "can",
        "could",
        "should",
        "would",
        "will",
        "there",
        "their",
        "they",
        "them",
        "these",
        "those",
        "than",
        "into",
        "about",
        "whose",
        "whom",
        "if",
        "so",
        "any",
        "all",
        "some",
        "other",
        "one",
        "you",
        "your",
        "i",
        "my",
        "we",
        "our",
        "document",
        "report",
        "paper",
        "page",
        "shown",
        "show",
        "shows",
        "mentioned",
        "listed",
        "given",
        "provided",
        "answer",
        "question",
    )
)


def words(text: str) -> list[str]:
    """Lower-cased content tokens; ``65,534`` and ``65534`` become the same token."""
    found = []
    for token in _WORD.findall(text.lower()):
        if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", token):
            token = token.replace(",", "")
        token = token.rstrip(".,")
        if token and token not in _STOP and (len(token) > 1 or token.isdigit()):
            found.append(stem(token))
    return found


def stem(word: str) -> str:
    """A crude suffix cut so that "extracts"/"extract" and "watering"/"water" match."""
    if not word.isalpha():
        return word
    for suffix in ("ing", "ed", "s"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 4:
            return word[: -len(suffix)]
    return word


def question_terms(question: str) -> set[str]:
    """The words that say what the question is about (not what kind of answer it wants)."""
    return {w for w in words(question) if w not in GENERIC}


@dataclass(frozen=True, slots=True)
class Unit:
    """A sentence or table row of one context item."""

    text: str
    #: Index of the context item it comes from.
    item: int
    words: frozenset[str]


def split_units(text: str, item: int = 0, *, join_wrapped: bool = False) -> list[Unit]:
    """Sentences of prose lines, whole lines otherwise, runs of cell-lines joined.

    ``join_wrapped`` first joins the lines of a sentence that the page wrapped (see
    :func:`unwrap`), so that a quote is a whole sentence, not the visual line it began on.
    """
    pieces: list[str] = []
    cells: list[str] = []
    for line in unwrap(text) if join_wrapped else text.splitlines():
        line = " ".join(line.split())
        if not line:
            continue
        if len(words(line)) <= _CELL_WORDS and len(line.split()) <= _CELL_WORDS:
            cells.append(line)
            continue
        # One or two short lines before a longer one label it ("-x, --extract" above its
        # description, "Nordics" above its figures); a longer run is a table of its own.
        label = " ".join(cells) + " " if 0 < len(cells) <= _LABEL_LINES else ""
        if len(cells) > _LABEL_LINES:
            pieces.extend(_rows(cells))
        cells = []
        if len(line.split()) > _PROSE_WORDS:
            sentences = _SENTENCE_END.split(line)
            pieces.append(label + sentences[0])
            pieces.extend(sentences[1:])
        else:
            pieces.append(label + line)
    if cells:
        pieces.extend(_rows(cells) if len(cells) > _LABEL_LINES else [" ".join(cells)])
    units = []
    for piece in pieces:
        piece = piece.strip()
        if len(piece) > _MAX_UNIT_CHARS:
            piece = piece[:_MAX_UNIT_CHARS].rsplit(" ", 1)[0] + "…"
        if piece:
            units.append(Unit(piece, item, frozenset(words(piece)) | acronyms(piece)))
    return units


def unwrap(text: str) -> list[str]:
    """``text``'s lines, with a sentence wrapped over several lines joined into one.

    PDF text and OCR come one visual line at a time ("we measured that" / "the ice front
    has retreated" / "38 metres since August 2024."). A line continues the one before when
    that one is prose cut mid-sentence (five or more words, mostly words, no closing
    punctuation) and it starts in lower case — or with a figure after a lower-case word.
    Table rows, short headings and records such as passwd lines are not prose, so they
    stay lines of their own; a blank line ends a paragraph.
    """
    lines: list[str] = []
    joinable = False
    for raw in text.splitlines():
        line = " ".join(raw.split())
        if not line:
            lines.append("")
            joinable = False
            continue
        if joinable and _continues(lines[-1], line):
            previous = lines[-1]
            # A word hyphenated at the line's end ("environ-" / "ment") is one word again.
            if re.search(r"[a-z]-$", previous) and line[0].islower():
                lines[-1] = previous[:-1] + line
            else:
                lines[-1] = previous + " " + line
        else:
            lines.append(line)
        joinable = True
    return lines


def is_prose(text: str) -> bool:
    """Words in a sentence rather than a table row, a record or a heading: at least
    five, mostly plain words (not figures, codes or paths)."""
    tokens = text.split()
    if len(tokens) < _MIN_PROSE_WORDS:
        return False
    return sum(1 for t in tokens if _PROSE_TOKEN.fullmatch(t)) >= _PROSE_SHARE * len(tokens)


def _continues(previous: str, line: str) -> bool:
    if previous[-1] in ".!?:;" or not is_prose(previous):
        return False
    first = line[0]
    return first.islower() or (first.isdigit() and re.search(r"[a-z,]$", previous) is not None)


def _rows(lines: list[str]) -> list[str]:
    """A table's short lines: each a row of its own ("Nordics 14.7 15.2"), except runs of
    one-word lines, which are the cells of one row put one per line by the extractor."""
    rows: list[str] = []
    single = False
    for line in lines:
        alone = len(line.split()) == 1
        if alone and single:
            rows[-1] += " " + line
        else:
            rows.append(line)
        single = alone
    # The row before the first row of figures is the header; each row of figures carries
    # it along, so that "Nordics 14.7" can be found (and read) as the Q3 figure.
    figures = [any(_FIGURE.fullmatch(t) for t in r.split()) for r in rows]
    first = figures.index(True) if True in figures else 0
    if first == 0:
        return rows
    header = rows[first - 1]
    return rows[:first] + [
        f"{header} | {r}" if has else r
        for r, has in zip(rows[first:], figures[first:], strict=True)
    ]


def acronyms(text: str) -> frozenset[str]:
    """The initials of each run of 3-4 words ("chief executive officer" -> "ceo"), so that a
    question's acronym finds the words it stands for."""
    initials = [w[0] for w in re.findall(r"[A-Za-z][A-Za-z-]*", text.lower())]
    return frozenset(
        "".join(initials[i : i + n]) for n in (3, 4) for i in range(len(initials) - n + 1)
    )


def units_of(texts: Sequence[str]) -> list[Unit]:
    return [unit for i, text in enumerate(texts) for unit in split_units(text, i)]


def rarity(terms: Iterable[str], units: Sequence[Unit]) -> dict[str, float]:
    """Weight of each term by how rare it is among ``units``: "nobody" on one line of a
    passwd file outweighs "user" on every line. A term no unit holds weighs as much as the
    rarest: evidence that never says "extract" cannot show which option extracts."""
    n = len(units)
    weights = {}
    for term in terms:
        df = sum(1 for u in units if term in u.words)
        weights[term] = math.log((n + 1) / max(df, 1)) + 1.0
    return weights


def coverage(unit: Unit, weights: dict[str, float]) -> float:
    """Share of the question terms' weight that ``unit`` holds, in [0, 1]."""
    total = sum(weights.values())
    if total <= 0:
        return 0.0
    return sum(w for t, w in weights.items() if t in unit.words) / total
