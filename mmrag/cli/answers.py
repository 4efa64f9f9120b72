"""Commands that answer: ask, and doctor (is everything in place to answer?)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from mmrag.api import RAG
from mmrag.cli import render
from mmrag.cli.app import (
    DEFAULT_STORE,
    JsonOpt,
    PipelineOpt,
    SourceOpt,
    StoreOpt,
    UserOpt,
    app,
    handle_errors,
    out,
)
from mmrag.doctor import diagnose
from mmrag.schema import Answer


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your question.", show_default=False)],
    image: Annotated[
        Path | None, typer.Option("--image", help="An image the question is about.")
    ] = None,
    source: SourceOpt = None,
    store: StoreOpt = DEFAULT_STORE,
    user: UserOpt = None,
    pipeline: PipelineOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Answer a question from the store, with citations [1], [2] to pages and images.

    The answer streams as it is written, followed by a table of its sources. When the
    documents do not hold the answer, it says so instead of inventing one.
    """
    with handle_errors():
        rag = RAG.open(store, pipeline=pipeline, create=False)
        if json_out:
            answer = rag.ask(question, image=image, user=user, source=source)
            out.print_json(data=answer.to_dict())
            return
        print_answer(rag.ask_stream(question, image=image, user=user, source=source))


def print_answer(stream: Iterator[str | Answer]) -> Answer | None:
    """Echo the streamed text, then the sources table; returns the final answer."""
    final = None
    for item in stream:
        if isinstance(item, Answer):
            final = item
        else:
            out.print(item, end="", highlight=False, markup=False, soft_wrap=True)
    out.print()
    if final is not None:
        if final.raw_text:
            out.print(f"[dim](the model said: {escape(final.raw_text[:200])})[/dim]")
        render.answer_sources(final)
    return final


@app.command()
def doctor(
    pipeline: Annotated[
        list[str] | None,
        typer.Option("--pipeline", "-p", help="Check these pipelines (default: all named ones)."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Which backends and models are installed and reachable, and what each pipeline needs."""
    with handle_errors():
        report = diagnose(pipeline or None)
    if json_out:
        out.print_json(data=report.to_dict())
        return
    table = Table("component", "status", "detail", title="Installed packages and models")
    for check in report.components:
        table.add_row(check.name, _status(check.ok), check.detail)
    out.print(table)
    table = Table("pipeline", "status", "what is missing", title="Pipelines")
    for name, problems in report.pipelines.items():
        table.add_row(name, _status(not problems), "; ".join(problems) or "ready")
    out.print(table)
    if not report.ok:
        raise typer.Exit(1)


def _status(ok: bool) -> str:
    return "[green]ok[/green]" if ok else "[red]missing[/red]"
