"""Store maintenance: ``mmrag check``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mmrag.cli.app import DEFAULT_STORE, JsonOpt, StoreOpt, app, handle_errors, out
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
