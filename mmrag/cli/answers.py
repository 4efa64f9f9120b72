"""``mmrag ask``: a streamed answer with its sources."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.text import Text

from mmrag.api import RAG
from mmrag.cli import render
from mmrag.cli.app import (
    DEFAULT_STORE,
    JsonOpt,
    KindOpt,
    PagesOpt,
    PipelineOpt,
    SourceOpt,
    StoreOpt,
    UserOpt,
    app,
    handle_errors,
    out,
    search_filter,
)
from mmrag.schema import Answer


@app.command()
def ask(
    question: Annotated[
        str,
        typer.Argument(
            help='Your question; "" with --image asks what is in the image.', show_default=False
        ),
    ],
    image: Annotated[
        Path | None, typer.Option("--image", help="An image the question is about.")
    ] = None,
    source: SourceOpt = None,
    kind: KindOpt = None,
    pages: PagesOpt = None,
    store: StoreOpt = DEFAULT_STORE,
    user: UserOpt = None,
    pipeline: PipelineOpt = None,
    show_sources: Annotated[
        bool,
        typer.Option("--show-sources", help="Print what was retrieved even when mmrag refuses."),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Answer a question from the store, with citations [1], [2] to pages and images.

    The answer is checked against its sources before it is shown as the answer, followed
    by a table of those sources. When the documents do not hold the answer, it says so
    instead of inventing one.
    """
    with handle_errors():
        filters = search_filter(kind, pages)
        rag = RAG.open(store, pipeline=pipeline, create=False)
        if json_out:
            answer = rag.ask(question, image=image, user=user, source=source, filters=filters)
            out.print_json(data=answer.to_dict())
            return
        print_answer(
            rag.ask_stream(question, image=image, user=user, source=source, filters=filters),
            show_sources=show_sources,
        )


def print_answer(stream: Iterator[str | Answer], *, show_sources: bool = False) -> Answer | None:
    """Show the final verdict on a streamed answer; returns the final :class:`Answer`.

    A model's text is only a draft until the support check has read it, so it is never
    printed as the answer while it streams: on a terminal it shows dimmed under a "draft"
    label and is cleared at the end; elsewhere it is held back. Then either the accepted
    answer and its sources, or — when mmrag refused — the rejected draft under a label
    that says so, and the refusal as the last thing printed.
    """
    draft = ""
    final = None
    with (
        Live(console=out, transient=True, auto_refresh=False)
        if out.is_terminal
        else nullcontext() as live
    ):
        for item in stream:
            if isinstance(item, Answer):
                final = item
                continue
            draft += item
            if live is not None:
                live.update(_draft_view(draft), refresh=True)
    if final is None:
        return None
    if final.answerable:
        if final.extractive:
            out.print("[bold]Quoted from the sources[/bold] (no model wrote this):")
        out.print(final.text, highlight=False, markup=False, soft_wrap=True)
        render.answer_sources(final)
        return final
    # ``rejection`` tells a draft mmrag rejected from the model's own refusal.
    rejected = bool(final.rejection and final.raw_text)
    if rejected:
        out.print("[dim]Model draft (rejected, not an answer):[/dim]")
        out.print(Text(final.raw_text, style="dim strike"), soft_wrap=True)
    render.answer_sources(final, table=show_sources)
    if rejected:
        out.print(
            "[bold red]✗ Rejected: not supported by the sources[/bold red]"
            + escape(f" — {final.rejection}")
        )
    out.print(final.text, highlight=False, markup=False, soft_wrap=True)
    return final


def _draft_view(draft: str) -> Group:
    return Group(
        Text("draft — being checked against the sources…", style="dim italic"),
        Text(draft, style="dim"),
    )
