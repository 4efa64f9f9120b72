"""The typer application, its shared options, and error handling for every command."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, NoReturn

import typer
from rich.console import Console
from rich.text import Text

from mmrag.api import DEFAULT_STORE
from mmrag.errors import MmragError
from mmrag.retrieve import SearchFilter, parse_pages
from mmrag.schema import NodeKind

app = typer.Typer(
    name="mmrag",
    help=(
        "Multimodal RAG over your documents and images, with a personal memory.\n\n"
        "Ingest PDFs, Markdown, HTML, text and image folders into a LanceDB store, then "
        "search them or ask questions answered with citations. Everything runs offline "
        "with the default pipeline."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
)
out = Console()
err = Console(stderr=True)

StoreOpt = Annotated[
    str,
    typer.Option("--store", "-s", envvar="MMRAG_STORE", help="Store directory or URI (s3://…)."),
]
UserOpt = Annotated[
    str | None,
    typer.Option("--user", "-u", help="User namespace; omit for the shared corpus."),
]
PipelineOpt = Annotated[
    str | None,
    typer.Option(
        "--pipeline",
        "-p",
        help="Pipeline name or YAML file (default: the store's own, else 'default').",
    ),
]
SourceOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--source", help="Only files matching this path or glob, or under this folder (repeatable)."
    ),
]
KindOpt = Annotated[
    list[NodeKind] | None,
    typer.Option("--kind", help="Only these kinds of nodes (repeatable)."),
]
PagesOpt = Annotated[str | None, typer.Option("--pages", help="Only these pages, e.g. 3 or 3-7.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_STORE",
    "JsonOpt",
    "KindOpt",
    "PagesOpt",
    "PipelineOpt",
    "SourceOpt",
    "StoreOpt",
    "UserOpt",
    "app",
    "search_filter",
]


@app.callback()
def main(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv for debug).")
    ] = 0,
) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@contextmanager
def handle_errors() -> Iterator[None]:
    """Turn mmrag errors and operating-system errors (a file where a folder was expected,
    a full disk, no permission) into one red line and exit 1; Ctrl-C into exit 130.

    Other exceptions are bugs and keep their traceback. The traceback of a handled error
    is logged at debug level, so ``-vv`` shows where it came from.
    """
    try:
        yield
    except MmragError as exc:
        _fail(str(exc), exc)
    except OSError as exc:
        # The user can act on "cannot use regfile/x: Not a directory"; a traceback into
        # pathlib tells them nothing more.
        _fail(os_error_message(exc), exc)
    except KeyboardInterrupt as exc:
        err.print("interrupted; what was committed is kept. Run the same command to finish.")
        raise typer.Exit(130) from exc


def _fail(message: str, exc: BaseException) -> NoReturn:
    logger.debug("handled error", exc_info=exc)
    err.print(Text.assemble(("error: ", "red"), message), highlight=False, soft_wrap=True)
    raise typer.Exit(1) from exc


def os_error_message(exc: OSError) -> str:
    """``cannot use PATH: Not a directory`` (both paths for a rename or a copy); an error
    without a file (a socket, a pipe) as Python words it."""
    reason = exc.strerror or str(exc)
    if exc.filename is None:
        return reason
    target = str(exc.filename)
    if exc.filename2 is not None:
        target += f" -> {exc.filename2}"
    return f"cannot use {target}: {reason}"


def search_filter(kind: list[NodeKind] | None, pages: str | None) -> SearchFilter:
    """``--kind`` and ``--pages`` as a filter; a bad page range is a usage error."""
    try:
        page_range = parse_pages(pages) if pages else None
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--pages") from exc
    return SearchFilter(kinds=tuple(kind or ()), pages=page_range)
