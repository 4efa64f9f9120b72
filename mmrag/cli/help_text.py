"""Command help that flows to the terminal's width.

Typer's ``rich`` markup mode keeps every line break of a docstring's later paragraphs, so
a docstring wrapped at 88 characters comes out ragged on an 80-column terminal ("the run
goes on and" / "exits with status 1"). The commands' help is reflowed once, when the CLI
is assembled: single line breaks inside a paragraph become spaces; blank lines, list
items ("- …") and paragraphs marked with click's ``\\b`` keep their lines.
"""

from __future__ import annotations

import inspect

import typer

_NO_REWRAP = "\b"


def reflow(text: str) -> str:
    """``text`` with each paragraph's lines joined, list items kept one per line."""
    paragraphs = []
    for paragraph in text.split("\n\n"):
        if paragraph.startswith(_NO_REWRAP):
            paragraphs.append(paragraph)
            continue
        lines: list[str] = []
        for line in paragraph.split("\n"):
            stripped = line.strip()
            if lines and not stripped.startswith("- "):
                lines[-1] = f"{lines[-1]} {stripped}"
            else:
                lines.append(stripped)
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def reflow_commands(app: typer.Typer) -> None:
    """Reflow the help of ``app``'s commands and of its sub-apps' commands, in place."""
    for command in app.registered_commands:
        text = command.help or inspect.getdoc(command.callback) or ""
        command.help = reflow(text)
    for group in app.registered_groups:
        if group.typer_instance is not None:
            reflow_commands(group.typer_instance)
