"""``mmrag tune``: fit the relevancy score and adaptive k on labelled questions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.progress import Progress
from rich.table import Table

from mmrag.api import RAG
from mmrag.cli.app import (
    DEFAULT_STORE,
    JsonOpt,
    PipelineOpt,
    StoreOpt,
    app,
    err,
    handle_errors,
    out,
)
from mmrag.cli.render import plural


@app.command()
def tune(
    dataset: Annotated[
        Path,
        typer.Option(
            "--dataset",
            "-d",
            help="Labelled questions: JSONL examples with evidence, or MMLongBench's samples.json.",
        ),
    ],
    store: StoreOpt = DEFAULT_STORE,
    pipeline: PipelineOpt = None,
    out_path: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write the tuned pipeline YAML here.")
    ] = None,
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="document (search within the gold file) and/or corpus."),
    ] = None,
    min_hit_ratio: Annotated[
        float,
        typer.Option(
            help="Keep at least this share of fixed-k's hit rate while shrinking context."
        ),
    ] = 0.95,
    limit: Annotated[int | None, typer.Option(help="Use only the first N questions.")] = None,
    cv_repeats: Annotated[
        int,
        typer.Option(
            min=0,
            help="Random groupings for the cross-validation grouped by document (0: skip).",
        ),
    ] = 5,
    fit_target: Annotated[
        float | None,
        typer.Option(
            help="Fit tau to keep this share of fixed-k's hits on all the questions "
            "(default: the smallest that keeps --min-hit-ratio on documents left out).",
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Fit the calibrated relevancy score and adaptive k's thresholds on your data.

    The store must already hold the documents the questions are about. The fit is
    cross-validated grouped by document (questions about one document are never both
    fitted on and scored): those are the figures to expect on new documents. The tuned
    pipeline is written with --out; use it with --pipeline.
    """
    # Imported here: fitting needs the store and scikit-learn, which --help does not.
    from mmrag.evaluate.dataset import load_dataset
    from mmrag.retrieve.tuning import SCOPES
    from mmrag.retrieve.tuning import tune as fit

    scopes = tuple(scope or SCOPES)
    if unknown := set(scopes) - set(SCOPES):
        raise typer.BadParameter(f"unknown scope {sorted(unknown)}; use document or corpus")
    with handle_errors():
        rag = RAG.open(store, pipeline=pipeline, create=False)
        examples = load_dataset(dataset)[:limit]
        with Progress(console=err, transient=True, disable=json_out or not err.is_terminal) as bar:
            task = bar.add_task("Collecting candidates", total=len(examples))
            result = fit(
                rag.retriever,
                examples,
                scopes=scopes,
                min_hit_ratio=min_hit_ratio,
                cv_repeats=cv_repeats,
                fit_target=fit_target,
                progress=lambda done: bar.update(task, completed=done),
            )
    if out_path is not None:
        data = result.config.model_dump(mode="json")
        data["description"] = f"{data.get('description') or ''} Tuned on {dataset.name}.".strip()
        out_path.parent.mkdir(parents=True, exist_ok=True)
        out_path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    t = result.threshold
    if json_out:
        out.print_json(
            data={
                "queries": result.queries,
                "weights": result.calibration.weights,
                "bias": result.calibration.bias,
                "slope": result.calibration.slope,
                "standout": result.calibration.standout,
                "rule": t.rule,
                "tau": t.tau,
                "relative": t.relative,
                "hit_rate": t.hit_rate,
                "mean_items": t.mean_items,
                "fixed_k_hit_rate": t.fixed_k_hit_rate,
                "fixed_k_mean_items": t.fixed_k_mean_items,
                "fit_target": result.fit_target,
                "grouped_cv": result.validation,
                "out": str(out_path) if out_path else None,
            }
        )
        return
    table = Table(
        "feature",
        "weight",
        title=f"Calibration ({plural(result.queries, 'labelled search', 'labelled searches')})",
    )
    for name, weight in result.calibration.weights.items():
        table.add_row(name, f"{weight:+.3f}")
    table.add_row("slope", f"{result.calibration.slope:+.3f}")
    table.add_row("standout", f"{result.calibration.standout:+.3f}")
    table.add_row("bias", f"{result.calibration.bias:+.3f}")
    out.print(table)
    bars = f"tau = {t.tau:.3g}" + (
        f", relative = {t.relative:.2f}" if t.rule == "threshold" else ""
    )
    out.print(
        f"{t.rule} rule, {bars}: a relevant item among the context "
        f"for {t.hit_rate:.1%} of searches "
        f"with {t.mean_items:.1f} items on average (fixed k: {t.fixed_k_hit_rate:.1%} with "
        f"{t.fixed_k_mean_items:.1f} items)"
    )
    for searched, f in result.validation.items():
        out.print(
            f"On documents left out ({searched}, {f['repeats']:.0f} groupings, mean ± sd): "
            f"page hit@5 {f['hit@5']:.3f} ± {f['hit@5_sd']:.3f}; adaptive k keeps "
            f"{f['hit_kept']:.1%} ± {f['hit_kept_sd']:.1%} of fixed k's hits "
            f"with {f['items_ratio']:.0%} of its items (tau fitted for {result.fit_target:.0%})"
        )
    if out_path is not None:
        out.print(f"Tuned pipeline written to {out_path}")
