"""Store maintenance: ``mmrag check`` and ``mmrag optimize``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mmrag.cli.app import DEFAULT_STORE, JsonOpt, StoreOpt, app, err, handle_errors, out
from mmrag.cli.render import index_coverage, index_label
from mmrag.errors import StoreError


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
        if "://" not in store and not Path(store).is_dir():
            raise StoreError(f"no store at {store}")
        report = check_store(Store.open(store), repair=repair)
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
    json_out: JsonOpt = False,
) -> None:
    """Compact the store and bring its indexes up to date.

    Merges the many small files that ingests leave into few large ones, builds the
    indexes the store is missing (an ANN index once a vector column passes 100,000
    rows), and folds rows written since the last build into every index. Searches find
    unindexed rows anyway, only more slowly. Safe while others read the store; run no
    ingest meanwhile. See `mmrag stats` for index coverage.
    """
    from mmrag.store import Store

    with handle_errors():
        if "://" not in store and not Path(store).is_dir():
            raise StoreError(f"no store at {store}")
        opened = Store.open(store)
        before = opened.fragments(), opened.index_coverage()
        started = time.perf_counter()
        with err.status("compacting and indexing…"):
            opened.refresh_indexes(retrain=retrain)
        seconds = time.perf_counter() - started
        after = opened.fragments(), opened.index_coverage()
    report = {
        "seconds": round(seconds, 2),
        "fragments_before": before[0],
        "fragments_after": after[0],
        "indexes": [c.to_dict() for c in after[1]],
    }
    if json_out:
        out.print_json(data=report)
        return
    table = Table("index", "rows indexed", title=f"Store {store}")
    for c in after[1]:
        table.add_row(index_label(c.to_dict()), index_coverage(c.to_dict()))
    out.print(table)
    out.print(f"{before[0]} data files -> {after[0]}, in {seconds:.1f} s")
