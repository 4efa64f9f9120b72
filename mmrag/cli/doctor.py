"""``mmrag doctor``: is everything in place to run a pipeline, here and now?"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from mmrag.cli.app import JsonOpt, app, handle_errors, out


@app.command()
def doctor(
    pipeline: Annotated[
        list[str] | None,
        typer.Option("--pipeline", "-p", help="Check these pipelines (default: all named ones)."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Exit 1 unless every checked pipeline is ready.")
    ] = False,
    json_out: JsonOpt = False,
) -> None:
    """Which backends and models are installed and reachable, and what each pipeline needs.

    Exits 0 when the default pipeline is ready (or, with --pipeline, every named one);
    with --strict, only when every pipeline checked is ready.
    """
    from mmrag.doctor import diagnose

    with handle_errors():
        report = diagnose(pipeline or None)
    if json_out:
        out.print_json(data=report.to_dict())
    else:
        table = Table("component", "status", "detail", title="Installed packages and models")
        for check in report.components:
            # Text, not markup: install hints hold extras in brackets ('.[clip]').
            table.add_row(check.name, _status(check.ok), Text(check.detail))
        out.print(table)
        table = Table("pipeline", "status", "what is missing", title="Pipelines")
        for name, problems in report.pipelines.items():
            table.add_row(name, _status(not problems), Text("; ".join(problems) or "ready"))
        out.print(table)
    if not (report.all_ready if strict else report.ok):
        raise typer.Exit(1)


def _status(ok: bool) -> Text:
    return Text("ok", style="green") if ok else Text("missing", style="red")
