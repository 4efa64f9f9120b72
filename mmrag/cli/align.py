"""``mmrag align fit|eval``: text -> image search without CLIP, learned from your captions."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mmrag.api import RAG
from mmrag.cli.app import (
    DEFAULT_STORE,
    JsonOpt,
    PipelineOpt,
    StoreOpt,
    UserOpt,
    app,
    handle_errors,
    out,
)
from mmrag.cli.render import plural

align_app = typer.Typer(
    help=(
        "Text -> image search without CLIP: learn a map from your captioned images (alt "
        "texts, figure captions, caption files beside photo folders) and search with it."
    ),
    no_args_is_help=True,
)
app.add_typer(align_app, name="align")

CaptionsOpt = Annotated[
    list[Path] | None,
    typer.Option(
        "--captions",
        help="A captions file: CSV with header image,caption; image relative to the file's "
        "folder or a file name (repeatable).",
    ),
]
MethodOpt = Annotated[
    list[str] | None,
    typer.Option("--method", help="ridge and/or contrastive (default: both, cross-validated)."),
]


@align_app.command("fit")
def fit(
    store: StoreOpt = DEFAULT_STORE,
    user: UserOpt = None,
    pipeline: PipelineOpt = None,
    captions: CaptionsOpt = None,
    method: MethodOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Fit the map on every caption pair found and store it; searches use it at once.

    Pairs come from the store's image captions (alt texts, figure captions, descriptive
    file names), captions.csv files in photo folders, photo.txt beside photo.jpg, and
    --captions files. Regularisation is chosen by cross-validation grouped by photo.
    """
    # Imported here: fitting reads LanceDB (and torch, for the contrastive fit).
    from mmrag.align.workflow import DEFAULT_METHODS, fit_store

    with handle_errors():
        rag = RAG.open(store, pipeline=pipeline, create=False)
        report = fit_store(
            rag.store,
            rag.components,
            user=user,
            caption_files=captions or [],
            methods=method or DEFAULT_METHODS,
        )
    if json_out:
        out.print_json(data=report.to_dict())
        return
    sources = ", ".join(f"{n} from {where}" for where, n in sorted(report.found.items()))
    out.print(f"{_pairs_for_images(report.pairs, report.images)} ({sources}).")
    if report.unmatched:
        rows = plural(report.unmatched, "caption row")
        out.print(f"Skipped {rows} naming images the store does not hold.")
    best = report.cv.get(f"{report.method}:{report.regularisation:g}")
    chosen = f" (cross-validated hit@5 {best:.3f})" if best is not None else ""
    out.print(f"Fitted {report.method}, regularisation {report.regularisation:g}{chosen}; stored.")
    if report.calibration is None:
        out.print("Too few images to calibrate it: its images rank by text signals only.")
    else:
        out.print(
            "Its similarity is calibrated on held-out photos: searches rank its images by it."
        )


@align_app.command("eval")
def evaluate(
    store: StoreOpt = DEFAULT_STORE,
    user: UserOpt = None,
    pipeline: PipelineOpt = None,
    captions: CaptionsOpt = None,
    method: MethodOpt = None,
    holdout: Annotated[float, typer.Option(help="Share of photos searched, never fitted.")] = 0.5,
    splits: Annotated[int, typer.Option(min=1, help="Random splits by photo.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the splits.")] = 0,
    json_out: JsonOpt = False,
) -> None:
    """Caption -> photo hit@1/5/10 on photos held out of the fit (nothing is stored)."""
    from mmrag.align.workflow import DEFAULT_METHODS, evaluate_store

    with handle_errors():
        rag = RAG.open(store, pipeline=pipeline, create=False)
        report = evaluate_store(
            rag.store,
            rag.components,
            user=user,
            caption_files=captions or [],
            methods=method or DEFAULT_METHODS,
            holdout=holdout,
            splits=splits,
            seed=seed,
        )
    data = report.to_dict()
    if json_out:
        out.print_json(data=data)
        return
    out.print(f"{_pairs_for_images(report.pairs, report.images)}; split {data['split']}.")
    for key, value in report.hits.items():
        out.print(
            f"{key}: {value:.3f} ± {report.hits_sd[key]:.3f} "
            f"(chance {report.chance[key]:.3f}, {plural(report.held_captions, 'caption')} searched)"
        )


def _pairs_for_images(pairs: int, images: int) -> str:
    return f"{plural(pairs, 'caption pair')} for {plural(images, 'image')}"
