"""Store maintenance: ``mmrag check`` and ``mmrag optimize``."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Annotated

import typer
from rich.table import Table

from mmrag.cli.app import DEFAULT_STORE, JsonOpt, StoreOpt, app, err, handle_errors, out
from mmrag.cli.render import index_coverage, index_label, plural


@app.command()
def check(
    store: StoreOpt = DEFAULT_STORE,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair", help="Remove duplicate and orphaned rows (run no ingest meanwhile)."
        ),
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Look for duplicate rows and orphaned rows left by crashes or concurrent writers.

    Exits 1 when something is wrong and was not repaired. After --repair, the next
    `mmrag ingest` of the affected files writes them again whole.
    """
    # Imported here: LanceDB takes seconds to import, and `mmrag --help` needs none of it.
    from mmrag.store import Store
    from mmrag.store.check import check_store

    with handle_errors():
        report = check_store(Store.open(store, create=False), repair=repair)
    if json_out:
        out.print_json(data=report.to_dict())
    else:
        table = Table("problem", "rows", "files (first few)", "repaired")
        for f in report.findings:
            table.add_row(
                f.description, str(f.rows), ", ".join(f.examples), "yes" if f.repaired else ""
            )
        out.print(table)
        out.print("store is consistent" if report.ok else "problems found; fix with --repair")
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def optimize(
    store: StoreOpt = DEFAULT_STORE,
    retrain: Annotated[
        bool,
        typer.Option(
            "--retrain",
            help="Rebuild the vector indexes from scratch, with partitions sized for the "
            "rows the store holds now (ingest does this by itself once a table has doubled).",
        ),
    ] = False,
    prune_older_than: Annotated[
        str,
        typer.Option(
            "--prune-older-than",
            metavar="AGE",
            help="Delete the store's versions older than AGE (e.g. 0, 12h, 7d) and the "
            "files only they use. Each write keeps the version before it, so right after "
            "an ingest the store holds its data about twice. A process that opened the "
            "store before the prune (a server) must reopen it. Memories keep theirs: "
            "undo reads them.",
        ),
    ] = "7d",
    json_out: JsonOpt = False,
) -> None:
    """Compact the store, bring its indexes up to date, and prune old versions.

    Merges the many small files that ingests leave into few large ones, builds the
    indexes the store is missing (an ANN index once a vector column passes 100,000
    rows), and folds rows written since the last build into every index. Searches find
    unindexed rows anyway, only more slowly. Safe while others read the store's latest
    version; run no ingest meanwhile. See `mmrag stats` for index coverage.
    """
    from mmrag.store import Store

    with handle_errors():
        age = parse_age(prune_older_than)
        opened = Store.open(store, create=False)
        before = opened.fragments(), opened.index_coverage(), opened.versions()
        disk_before = opened.disk_bytes()
        started = time.perf_counter()
        with err.status("compacting and indexing…"):
            opened.refresh_indexes(retrain=retrain, prune_older_than=age)
        seconds = time.perf_counter() - started
        after = opened.fragments(), opened.index_coverage(), opened.versions()
        disk_after = opened.disk_bytes()
    report = {
        "seconds": round(seconds, 2),
        "fragments_before": before[0],
        "fragments_after": after[0],
        "versions_before": before[2],
        "versions_after": after[2],
        "disk_bytes_before": disk_before,
        "disk_bytes_after": disk_after,
        "indexes": [c.to_dict() for c in after[1]],
    }
    if json_out:
        out.print_json(data=report)
        return
    table = Table("index", "rows indexed", title=f"Store {store}")
    for c in after[1]:
        table.add_row(index_label(c.to_dict()), index_coverage(c.to_dict()))
    out.print(table)
    out.print(f"{plural(before[0], 'data file')} -> {after[0]}, in {seconds:.1f} s")
    disk = (
        f"; {disk_before / 1e6:.1f} MB on disk -> {disk_after / 1e6:.1f} MB"
        if disk_before is not None and disk_after is not None
        else ""
    )
    out.print(f"{plural(before[2], 'table version')} kept -> {after[2]}{disk}")


_AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_age(text: str) -> timedelta:
    """``0``, or a number with a unit (s, m, h, d): ``30m``, ``12h``, ``7d``."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text.lower())
    if match is None or (not match[2] and float(match[1]) != 0):
        raise typer.BadParameter(
            f"{text!r} is not an age: give 0 or a number with s, m, h or d (e.g. 12h, 7d)",
            param_hint="--prune-older-than",
        )
    return timedelta(seconds=float(match[1]) * _AGE_UNITS[match[2] or "s"])
