"""How the CLI shows results: rich tables on stdout, summaries and failures on stderr."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from mmrag.cli.app import err, out
from mmrag.ingest import IngestReport
from mmrag.schema import Answer, ScoredNode
from mmrag.stats import StoreStats


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``1 result``, ``2 results``, ``0 results``; ``plural_form`` for a noun that does not
    take an s (``plural(2, "query", "queries")``)."""
    return f"{count} {noun if count == 1 else plural_form or noun + 's'}"


def ingest_report(
    report: IngestReport,
    *,
    warnings: bool = True,
    listed: int = 20,
    max_warnings: int = 100,
    paths: Sequence[str | Path] = (),
) -> None:
    """The summary line, then one line per failure, ignored entry and (with ``warnings``)
    warning; unsupported files are named too, the first ``listed`` of them. Warnings stop
    after ``max_warnings`` lines (a page with thousands of broken links would bury the
    rest); ``--json`` always has them all. A run that found no file it could read says so
    last, naming ``paths`` (the ones given) when known."""
    # The same numbers as the report's `counts` (and --json), named the same way.
    counts = report.counts
    parts = [f"{counts[key]} {key}" for key in ("ingested", "unchanged", "failed")]
    for key, why in (
        ("skipped", ""),
        ("pruned", ""),
        ("unsupported", " (no loader)"),
        ("ignored", " (not regular files, or outside: not read)"),
    ):
        if counts[key]:
            parts.append(f"{counts[key]} {key}{why}")
    err.print(
        f"{', '.join(parts)} · {plural(report.pages, 'page')}, "
        f"{plural(report.images, 'image')}, "
        f"{plural(report.nodes_written, 'node')} written in {report.seconds:.1f}s",
        soft_wrap=True,  # one line in logs too, not cut at 80 columns when piped
    )
    for failure in report.failed:
        _line("failed: ", "red", f"{failure.path}: {failure.reason}")
    for entry in report.ignored:
        _line("not read: ", "yellow", f"{entry.path}: {entry.reason}")
    for path in report.unsupported_files[:listed]:
        _line("unsupported: ", "dim", f"{path}: no loader for '{Path(path).suffix}' files")
    if len(report.unsupported_files) > listed:
        more = len(report.unsupported_files) - listed
        _line("unsupported: ", "dim", f"… and {more} more (--json lists them all)")
    if warnings:
        for warning in report.warnings[:max_warnings]:
            _line("warning: ", "yellow", warning)
        if len(report.warnings) > max_warnings:
            more = len(report.warnings) - max_warnings
            _line("warning: ", "yellow", f"… and {more} more (--json lists them all)")
    if not counts["seen"] and not report.failed and not report.interrupted:
        # "0 ingested" and exit 0 reads like success; an empty folder or a wrong path
        # pattern is more likely a mistake, and the user should see what would be read.
        note(_nothing_to_ingest(paths))


def _nothing_to_ingest(paths: Sequence[str | Path]) -> str:
    from mmrag.ingest.loaders import supported_extensions

    where = f" in {', '.join(map(str, paths))}" if paths else ""
    return f"nothing to ingest{where} (no supported files: {' '.join(supported_extensions())})"


def note(text: str) -> None:
    """One yellow ``note:`` line on stderr, for what the user should notice."""
    _line("note: ", "yellow", text)


def _line(label: str, style: str, text: str) -> None:
    err.print(Text.assemble((label, style), text), highlight=False, soft_wrap=True)


def hits(
    results: Sequence[ScoredNode],
    title: str,
    *,
    scores: bool = True,
    text_query: bool = True,
    image_query: bool = False,
) -> None:
    """A table of hits. For a query image it shows each hit's image similarity (cosine
    of the image features, 1.0 for the same picture): the rank-fusion score of an
    image-only search (about 2/61 for every hit) would tell the reader nothing."""
    if not results:
        out.print("No results.")
        return
    table = Table(title=title)
    score_columns = ["score"] if scores and text_query else []
    if scores and image_query:
        score_columns.append("image similarity")
    for column in ["#", *score_columns, "kind", "source", "page", "text"]:
        table.add_column(column, overflow="fold" if column == "text" else "ellipsis")
    for rank, hit in enumerate(results, start=1):
        n = hit.node
        row = [str(rank)]
        if "score" in score_columns:
            row.append(f"{hit.score:.4f}")
        if "image similarity" in score_columns:
            similarity = hit.scores.get("image_vector", {}).get("score")
            row.append("—" if similarity is None else f"{similarity:.3f}")
        row += [
            n.kind.value,
            Path(n.source).name,
            str(n.page or ""),
            " ".join(n.text.split())[:160] or "—",
        ]
        table.add_row(*row)
    out.print(table)


def footer(what: str, timings: Mapping[str, float]) -> None:
    """One dim line on stderr: what was done, then seconds per stage (``load`` is model
    loading on first use, kept apart so that "retrieve" means retrieval)."""
    stages = " · ".join(f"{name} {seconds:.2f}s" for name, seconds in timings.items())
    err.print(Text(f"{what} · {stages}", style="dim"), highlight=False)


def answer_sources(answer: Answer, *, table: bool = True) -> None:
    """The items the answer cites (and, dimmed, the rest of what the model saw), then a
    footer of timings; ``table=False`` prints the footer only (a refusal's retrieved items
    are not its sources)."""
    if table and answer.context:
        _sources_table(answer)
    timing = " · ".join(f"{k} {v:.2f}s" for k, v in answer.timings.items())
    tokens = f"{answer.prompt_tokens} prompt + {answer.completion_tokens} answer tokens"
    err.print(
        Text(f"{answer.model or 'no model call'} · {tokens} · {timing}", style="dim"),
        soft_wrap=True,
    )


def _sources_table(answer: Answer) -> None:
    cited = {c.number: c for c in answer.citations}
    table = Table(title="Sources", title_justify="left")
    for column in ("#", "cited", "kind", "source", "page", "text"):
        table.add_column(column, overflow="fold" if column == "text" else "ellipsis")
    for number, item in enumerate(answer.context, start=1):
        n = item.node
        mark = ("inferred" if cited[number].inferred else "yes") if number in cited else ""
        style = None if number in cited else "dim"
        table.add_row(
            str(number),
            mark,
            n.kind.value,
            Path(n.source).name,
            str(n.page or ""),
            " ".join(n.text.split())[:70],
            style=style,
        )
    out.print(table)


def index_label(ix: dict[str, Any]) -> str:
    """``IVF_HNSW_SQ(text_vector)``; indexes of a table other than the nodes table are
    prefixed with it (``image_vectors: IVF_HNSW_SQ(image_vector)``)."""
    label = f"{ix['type']}({', '.join(ix['columns'])})"
    return label if ix.get("table", "nodes") == "nodes" else f"{ix['table']}: {label}"


def index_coverage(ix: dict[str, Any]) -> str:
    """``indexed / total rows (pct)``, and what to run when rows are left out."""
    indexed = ix["indexed_rows"]
    total = indexed + ix["unindexed_rows"]
    line = f"{indexed:,} / {total:,} rows indexed ({indexed / max(total, 1):.0%})"
    if ix["unindexed_rows"]:
        line += " - run `mmrag optimize` to fold the rest in"
    return line


def store_stats(result: StoreStats) -> None:
    table = Table(show_header=False, title=f"Store {result.uri}")
    table.add_row("pipeline", result.pipeline)
    table.add_row("text embedder", result.text_embedder)
    table.add_row("image embedder", result.image_embedder or "none")
    if result.second_embedder:
        table.add_row("second text embedder", result.second_embedder)
    if result.token_vectors:
        table.add_row("token vectors", "stored (late interaction)")
    table.add_row("files", str(result.files))
    for kind, count in sorted(result.nodes.items()):
        table.add_row(f"{kind} nodes", str(count))
    # Each index is named on its own row below, with its table and coverage: the header
    # row only counts them (listing them there too named "BTree(id)" twice, tables unsaid).
    table.add_row("indexes", str(len(result.indexes)) if result.indexes else "none")
    for ix in result.index_coverage:
        table.add_row(f"  {index_label(ix)}", index_coverage(ix))
    table.add_row("version", str(result.version))
    if result.live_bytes is not None:
        table.add_row("data", f"{result.live_bytes / 1e6:.1f} MB in the current version")
    if result.size_bytes is not None:
        # Old versions stay on disk for a week unless pruned (`mmrag optimize`).
        table.add_row("on disk", f"{result.size_bytes / 1e6:.1f} MB, old versions included")
    out.print(table)
