"""``mmrag eval run`` and ``mmrag eval report``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from mmrag.cli.app import app, err, handle_errors, out
from mmrag.cli.render import plural
from mmrag.config import load_pipeline
from mmrag.errors import ConfigError
from mmrag.generate.choices import ChoiceMethod

eval_app = typer.Typer(
    help="Evaluate pipelines on a dataset and compare them in a report.", no_args_is_help=True
)
app.add_typer(eval_app, name="eval")


@eval_app.command("run")
def run(
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset",
            "-d",
            help="mmlongbench, flickr8k, rap (from --data-root), or a JSONL file.",
        ),
    ],
    pipeline: Annotated[
        list[str], typer.Option("--pipeline", "-p", help="Pipeline name or YAML (repeatable).")
    ],
    out_dir: Annotated[Path, typer.Option("--out", "-o", help="Evaluation folder (resumable).")],
    limit: Annotated[int | None, typer.Option(help="Only the first N questions.")] = None,
    corpus: Annotated[
        Path | None, typer.Option(help="Documents to ingest for a JSONL dataset.")
    ] = None,
    data_root: Annotated[
        Path | None,
        typer.Option(
            help="Where the public sets live (default: shared/data beside the mmrag checkout)."
        ),
    ] = None,
    generate: Annotated[
        bool,
        typer.Option(
            "--generate/--no-generate", help="Generate and judge answers, or retrieval only."
        ),
    ] = True,
    judge: Annotated[
        bool, typer.Option("--judge/--no-judge", help="Grade answers with the LLM judge.")
    ] = True,
    judge_with: Annotated[
        str | None,
        typer.Option(
            help="Judge with this pipeline's generator (name or YAML, e.g. openai) instead "
            "of each pipeline's own: a small offline model cannot grade reliably.",
        ),
    ] = None,
    choice_method: Annotated[
        ChoiceMethod,
        typer.Option(
            help="Multiple-choice questions: generate (all orders), likelihood, similarity."
        ),
    ] = ChoiceMethod.GENERATE,
) -> None:
    """Run each pipeline over the dataset; finished questions are not run again."""
    # Imported here so that other commands (and --help) do not load the store and models.
    from mmrag.evaluate.datasets import resolve
    from mmrag.evaluate.runner import EvalSettings, run_eval

    with handle_errors():
        spec = resolve(dataset, data_root=data_root, corpus=corpus)
        settings = EvalSettings(
            limit=limit,
            generate=generate,
            use_judge=judge,
            judge=_judge_model(judge_with) if judge_with else None,
            choice_method=choice_method,
        )
        columns = (
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=err, disable=not err.is_terminal) as bar:
            tasks: dict[str, TaskID] = {}

            def progress(name: str, done: int, total: int) -> None:
                if name not in tasks:
                    tasks[name] = bar.add_task(name, total=total)
                bar.update(tasks[name], completed=done)

            summaries = run_eval(spec, pipeline, out_dir, settings, progress)
    evaluated = plural(len(summaries), "pipeline")
    out.print(f"{evaluated} evaluated on {spec.name}; results in {out_dir}")
    out.print(f"Report: mmrag eval report {out_dir}")


def _judge_model(pipeline: str) -> dict[str, Any]:
    generator = load_pipeline(pipeline).generator
    if generator is None:
        raise ConfigError(f"--judge-with: pipeline '{pipeline}' has no generator to judge with")
    return generator.model_dump(mode="json")


@eval_app.command("report")
def report(
    folder: Annotated[Path, typer.Argument(help="An evaluation folder from `mmrag eval run`.")],
    thumbnails: Annotated[
        bool,
        typer.Option(
            "--thumbnails/--no-thumbnails",
            help="Show retrieved images in the examples (leave them out to share a report "
            "without the dataset's pictures).",
        ),
    ] = True,
) -> None:
    """Write report.md and a self-contained report.html comparing the pipelines."""
    from mmrag.evaluate.report import build_report, report_verdict

    with handle_errors():
        md, html = build_report(folder, thumbnails=thumbnails)
        lines = report_verdict(folder)
    for line in lines:
        out.print(line, markup=False, highlight=False)
    out.print(f"wrote {md} and {html}")
