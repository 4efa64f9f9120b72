"""Commands that build and inspect the store: ingest, search, stats, pipelines, demo."""

from __future__ import annotations

import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

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
    err,
    handle_errors,
    out,
    search_filter,
)
from mmrag.config import available_pipelines, load_pipeline
from mmrag.retrieve.selection import best_similarity, too_far
from mmrag.stats import StoreStats
from mmrag.store import summary
from mmrag.timing import LoadSplit


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
    allow_links_outside: Annotated[
        list[Path] | None,
        typer.Option(
            "--allow-links-outside",
            help="Also read linked images and follow symlinks into this folder (repeatable). "
            "By default only files inside PATHS are read.",
        ),
    ] = None,
    ray: Annotated[
        str | None,
        typer.Option(
            "--ray",
            metavar="ADDRESS",
            help="Parse, OCR and embed on a Ray cluster: 'auto' (the one 'ray start' runs "
            "here), HOST:PORT or ray://HOST:PORT. This process still writes the store. "
            "Needs the ray extra.",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Add files to the store. Unchanged files are skipped; changed files are replaced.

    Files that cannot be read are reported one per line and skipped; the run goes on and
    exits with status 1 at the end if any failed. Entries that are not regular files
    inside PATHS (symlink loops, named pipes, links leading outside) are named, not read.
    With --ray the files must be readable at the same paths on every node of the cluster.
    """
    # Before the store is opened (which creates it) and the models load: a mistyped path
    # is a usage error. With --prune a path may be gone on purpose: its files are forgotten.
    missing = [] if prune else [str(p) for p in paths if _names_nothing(p)]
    if missing:
        raise typer.BadParameter(
            f"no such file or folder: {', '.join(missing)}", param_hint="PATHS"
        )
    live = not json_out and err.is_terminal
    with handle_errors():
        rag = RAG.open(store, pipeline=pipeline)
        report = rag.ingest(
            paths,
            user=user,
            include=include or (),
            exclude=exclude or (),
            prune=prune,
            show_progress=live,
            allow_links_outside=allow_links_outside or (),
            cluster=ray,
        )
    for who in {None, user}:
        summary.refresh(store, _stats_key(who), _compute_stats(store, who))
    if json_out:
        out.print_json(data=report.to_dict())
    else:
        # The live progress display has already printed the warnings as they came.
        render.ingest_report(report, warnings=not live, paths=paths)
    if not report.ok:
        raise typer.Exit(1)


def _names_nothing(path: Path) -> bool:
    """Is there nothing at ``path``? A dangling link or an unreadable entry is something:
    ingest reports why it cannot read it."""
    try:
        path.expanduser().lstat()
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


@app.command()
def search(
    query: Annotated[
        str | None, typer.Argument(help="What to look for.", show_default=False)
    ] = None,
    image: Annotated[
        Path | None, typer.Option("--image", help="Search by this image (alone or with QUERY).")
    ] = None,
    k: Annotated[
        int | None,
        typer.Option(
            "-k", "--top-k", min=1, help="How many results (default: adaptive, by relevancy)."
        ),
    ] = None,
    source: SourceOpt = None,
    kind: KindOpt = None,
    pages: PagesOpt = None,
    store: StoreOpt = DEFAULT_STORE,
    user: UserOpt = None,
    pipeline: PipelineOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Search the store by text, by image, or both."""
    if not query and image is None:
        raise typer.BadParameter("give a QUERY, an --image, or both")
    with handle_errors():
        filters = search_filter(kind, pages)
        rag = RAG.open(store, pipeline=pipeline, create=False)
        # Models load on first use: the footer tells that apart from the search itself.
        split = LoadSplit()
        results = rag.search(query, image=image, user=user, k=k, source=source, filters=filters)
        split.lap("retrieve")
    if json_out:
        out.print_json(data=[h.to_dict() for h in results])
        return
    render.hits(
        results,
        f"Results for {query!r}" if query else "Results for the query image",
        text_query=bool(query),
        image_query=image is not None,
    )
    bar = rag.components.config.generation.min_similarity
    if query and too_far(results, bar):
        # Adaptive k keeps more items when none stands out, so an off-topic query shows a
        # long list of weak matches: say they are only the nearest, as ask would refuse.
        best = best_similarity(results) or 0.0
        render.note(
            f"nothing is close to {query!r} (best similarity {best:.2f}, below the "
            f"{bar:.2f} at which ask refuses): these are only the nearest"
        )
    render.footer(render.plural(len(results), "result"), split.timings())


def _stats_key(user: str | None) -> str:
    return f"stats:{user or ''}"


def _compute_stats(store: str, user: str | None) -> Callable[[], dict[str, Any]]:
    return lambda: RAG.open(store, create=False).stats(user=user).to_dict()


@app.command()
def stats(
    store: StoreOpt = DEFAULT_STORE,
    user: UserOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """What the store holds: files, nodes by kind, indexes, size."""
    with handle_errors():
        # Served from the store's cache while no table changed: opening the store (and
        # importing LanceDB) is most of this command's time.
        # Served from the store's saved answer while no table changed (mmrag.store.summary):
        # opening the store (importing LanceDB) is most of this command's time otherwise.
        data = summary.recall_or_compute(store, _stats_key(user), _compute_stats(store, user))
        result = StoreStats.from_dict(data)
    if json_out:
        out.print_json(data=result.to_dict())
    else:
        render.store_stats(result)


@app.command()
def pipelines(json_out: JsonOpt = False) -> None:
    """List the named pipelines."""
    found: dict[str, Any] = {}
    with handle_errors():
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
    photos), ingest it with the offline default, search it, and answer a question."""
    from mmrag.cli.answers import print_answer
    from mmrag.demo import DEMO_QUESTION, DEMO_UNANSWERABLE, build_demo_corpus, demo_queries

    with handle_errors():
        docs = build_demo_corpus(directory / "docs")
        err.print(f"Demo corpus written to {docs}")
        rag = RAG.open(directory / "store")
        report = rag.ingest([docs], show_progress=err.is_terminal)
        render.ingest_report(report, warnings=not err.is_terminal)
        queries = demo_queries(docs)
        for query in queries:
            found = rag.search(query.text, image=query.image, k=3)
            by_image = query.image is not None
            render.hits(
                found,
                f"search: {query.text or f'image {query.image}'}",
                scores=by_image,
                text_query=bool(query.text),
                image_query=by_image,
            )
        for question in (DEMO_QUESTION, DEMO_UNANSWERABLE):
            out.rule(f"ask: {question}")
            print_answer(rag.ask_stream(question))
    out.rule("next")
    for line in demo_next_steps(directory / "store", docs):
        out.print(line, markup=False, highlight=False, soft_wrap=True)


def demo_next_steps(store: Path, docs: Path) -> list[str]:
    """Commands to try next on the store the demo built (it is not the default store)."""
    at = f"--store {shlex.quote(str(store))}"
    photo = shlex.quote(str(docs / "photos" / "sunset_beach.jpg"))
    return [
        "Try it yourself on the demo's store:",
        f'  mmrag search "revenue by region" {at}',
        f"  mmrag search --image {photo} {at}",
        f'  mmrag ask "Who is the CEO of Northwind Labs?" {at}',
        f"  mmrag stats {at}",
        "Or ingest your own documents into a store of their own:",
        "  mmrag ingest ~/Documents/papers --store my-store",
    ]
