"""The ``mmrag`` command line. It only parses arguments, calls :mod:`mmrag.api` and prints."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mmrag.api import DEFAULT_STORE, RAG
from mmrag.config import available_pipelines, load_pipeline
from mmrag.errors import MmragError
from mmrag.ingest import IngestReport

app = typer.Typer(
    name="mmrag",
    help=(
        "Multimodal RAG over your documents and images, with a personal memory.\n\n"
        "Ingest PDFs, Markdown, HTML, text and image folders into a LanceDB store, then "
        "search them by text or by image. Everything runs offline with the default pipeline."
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
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON.")]


@app.callback()
def main(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output (-vv for debug).")
    ] = 0,
) -> None:
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@app.command()
def ingest(
    paths: Annotated[
        list[Path], typer.Argument(help="Files and directories to ingest.", show_default=False)
    ],
    store: StoreOpt = DEFAULT_STORE,
    user: UserOpt = None,
    pipeline: PipelineOpt = None,
    include: Annotated[
        list[str] | None,
        typer.Option("--include", "-i", help="Only files matching this glob (repeatable)."),
    ] = None,
    exclude: Annotated[
        list[str] | None,
        typer.Option("--exclude", "-x", help="Skip files matching this glob (repeatable)."),
    ] = None,
    prune: Annotated[
        bool, typer.Option("--prune", help="Forget files under PATHS that no longer exist.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Add files to the store. Unchanged files are skipped; changed files are replaced.

    Files that cannot be read are reported one per line and skipped; the run goes on and
    exits with status 1 at the end if any failed.
    """
    with _errors():
        rag = RAG.open(store, pipeline=pipeline)
        report = rag.ingest(
            paths,
            user=user,
            include=include or (),
            exclude=exclude or (),
            prune=prune,
            show_progress=not json_out and err.is_terminal,
        )
    if json_out:
        out.print_json(data=report.to_dict())
    else:
        _print_report(report)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def search(
    query: Annotated[
        str | None, typer.Argument(help="What to look for.", show_default=False)
    ] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="Search by this image (alone or with QUERY).")
    ] = None,
    k: Annotated[int | None, typer.Option("-k", "--top-k", min=1, help="How many results.")] = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", help="Only files matching this path or glob (repeatable)."),
    ] = None,
    store: StoreOpt = DEFAULT_STORE,
    user: UserOpt = None,
    pipeline: PipelineOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Search the store by text, by image, or both."""
    if not query and image is None:
        raise typer.BadParameter("give a QUERY, an --image, or both")
    with _errors():
        rag = RAG.open(store, pipeline=pipeline, create=False)
        hits = rag.search(query, image=image, user=user, k=k, source=source)
    if json_out:
        out.print_json(data=[h.to_dict() for h in hits])
        return
    if not hits:
        out.print("No results.")
        return
    table = Table(title=f"Results for {query!r}" if query else "Results for the query image")
    for column in ("#", "score", "kind", "source", "page", "text"):
        table.add_column(column, overflow="fold" if column == "text" else "ellipsis")
    for rank, hit in enumerate(hits, start=1):
        n = hit.node
        snippet = " ".join(n.text.split())[:160] or "—"
        table.add_row(
            str(rank),
            f"{hit.score:.4f}",
            n.kind.value,
            Path(n.source).name,
            str(n.page or ""),
            snippet,
        )
    out.print(table)


@app.command()
def stats(
    store: StoreOpt = DEFAULT_STORE,
    user: UserOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """What the store holds: files, nodes by kind, indexes, size."""
    with _errors():
        rag = RAG.open(store, create=False)
        result = rag.stats(user=user)
    if json_out:
        out.print_json(data=result.to_dict())
        return
    table = Table(show_header=False, title=f"Store {result.uri}")
    table.add_row("pipeline", result.pipeline)
    table.add_row("text embedder", result.text_embedder)
    table.add_row("image embedder", result.image_embedder or "none")
    table.add_row("files", str(result.files))
    for kind, count in sorted(result.nodes.items()):
        table.add_row(f"{kind} nodes", str(count))
    table.add_row("indexes", ", ".join(result.indexes) or "none")
    table.add_row("version", str(result.version))
    if result.size_bytes is not None:
        table.add_row("size", f"{result.size_bytes / 1e6:.1f} MB")
    out.print(table)


@app.command()
def pipelines(json_out: JsonOpt = False) -> None:
    """List the named pipelines."""
    found: dict[str, Any] = {}
    with _errors():
        for name, path in available_pipelines().items():
            found[name] = {"file": str(path), "description": load_pipeline(path).description}
    if json_out:
        out.print_json(data=found)
        return
    table = Table("name", "description", "file")
    for name, info in found.items():
        table.add_row(name, info["description"], info["file"])
    out.print(table)


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where to write the demo corpus and its store.")
    ] = Path("demo-corpus"),
) -> None:
    """Generate a small corpus (PDFs with a table, a chart and a scan; Markdown; HTML;
    photos), ingest it with the offline default, and run example searches."""
    from mmrag.demo import build_demo_corpus, demo_queries

    with _errors():
        docs = build_demo_corpus(directory / "docs")
        err.print(f"Demo corpus written to {docs}")
        rag = RAG.open(directory / "store")
        report = rag.ingest([docs], show_progress=err.is_terminal)
        _print_report(report)
        for query in demo_queries(docs):
            hits = rag.search(query.text, image=query.image, k=3)
            title = query.text or f"image {query.image}"
            table = Table(title=f"search: {title}")
            for column in ("#", "kind", "source", "page", "text"):
                table.add_column(column)
            for rank, hit in enumerate(hits, start=1):
                n = hit.node
                table.add_row(
                    str(rank),
                    n.kind.value,
                    Path(n.source).name,
                    str(n.page or ""),
                    " ".join(n.text.split())[:110],
                )
            out.print(table)


def _print_report(report: IngestReport) -> None:
    parts = [
        f"{report.ingested} ingested",
        f"{report.unchanged} unchanged",
        f"{len(report.failed)} failed",
    ]
    if report.skipped:
        parts.append(f"{report.skipped} skipped")
    if report.pruned:
        parts.append(f"{report.pruned} pruned")
    if report.unsupported:
        parts.append(f"{report.unsupported} unsupported files ignored")
    err.print(
        f"{', '.join(parts)} · {report.pages} pages, {report.images} images, "
        f"{report.nodes_written} nodes written in {report.seconds:.1f}s"
    )
    for failure in report.failed:
        err.print(
            f"[red]failed:[/] {failure.path}: {failure.reason}",
            markup=True,
            highlight=False,
            soft_wrap=True,
        )


@contextmanager
def _errors() -> Iterator[None]:
    """Turn mmrag errors into one red line and exit 1; Ctrl-C into exit 130."""
    try:
        yield
    except MmragError as exc:
        err.print(Text.assemble(("error: ", "red"), str(exc)), highlight=False, soft_wrap=True)
        raise typer.Exit(1) from exc
    except KeyboardInterrupt as exc:
        err.print("interrupted; what was committed is kept. Run the same command to finish.")
        raise typer.Exit(130) from exc


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
