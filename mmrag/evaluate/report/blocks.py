"""The building blocks of a report, independent of format, and how figures are shown."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass(slots=True)
class Figure:
    caption: str
    png: bytes
    name: str


@dataclass(slots=True)
class Item:
    label: str
    text: str
    thumbnail: bytes | None = None


@dataclass(slots=True)
class Example:
    pipeline: str
    question: str
    facts: list[tuple[str, str]]
    items: list[Item] = field(default_factory=list)


@dataclass(slots=True)
class Section:
    title: str
    blocks: list[Table | Figure | Example | str] = field(default_factory=list)


def ci(stat: dict[str, Any] | None) -> str:
    if not stat:
        return "—"
    return f"{stat['mean']:.3f} [{stat['low']:.3f}, {stat['high']:.3f}]"


def highlight(
    rows: list[list[str]],
    stats: Sequence[Sequence[dict[str, Any] | None]],
    better: dict[int, str],
) -> None:
    """Bold the best value of each ranked column in place (``better``: "high" or "low").

    Nothing is bolded in a column where fewer than two rows have a value or all values
    are equal: there is no best to point at.
    """
    for col, direction in better.items():
        means = [(row, stat["mean"]) for row, s in enumerate(stats) if (stat := s[col])]
        values = {m for _, m in means}
        if len(means) < 2 or len(values) < 2:
            continue
        best = max(values) if direction == "high" else min(values)
        for row, m in means:
            if m == best:
                head, _, rest = rows[row][col].partition(" ")
                rows[row][col] = f"**{head}**" + (f" {rest}" if rest else "")
