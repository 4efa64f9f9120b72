"""SmolLM2's drafts over the cached MMLongBench-Doc contexts, and the support checks on them.

The ``drafts`` and ``checks`` commands of ``benchmarks/extractive.py`` (which parses the
arguments and caches the contexts): the same contexts the extractive answerer is fitted
on, answered by a generator with no check, then each support check (``off``,
``overlap``, ``claims`` with a grid of anchor settings) scored per half.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
from collections.abc import Iterator
from typing import Any

from extractive import load_rows, scored

from mmrag.components import Components
from mmrag.config import load_pipeline
from mmrag.evaluate.answer_check import check_answer
from mmrag.generate import answer as answer_module
from mmrag.generate.answer import Answerer
from mmrag.generate.prompt import Prompt, build_prompt
from mmrag.generate.support import check_claims
from mmrag.models.mllm import Generation, GenerationOptions


def drafts(args: argparse.Namespace) -> None:
    rows = load_rows(args.contexts)
    config = load_pipeline(args.pipeline)
    generator = Components(config).generator
    settings = config.generation
    options = GenerationOptions(max_tokens=settings.max_tokens, temperature=0.0, seed=0)
    done = {r["i"] for r in load_rows(args.out)} if args.out.exists() else set()
    order = sorted(rows, key=lambda r: (r["i"] % 7, r["i"]))  # a spread of documents first
    with args.out.open("a", encoding="utf-8") as f:
        for row in order[: args.limit]:
            if row["i"] in done:
                continue
            prompt = build_prompt(
                row["question"],
                scored(row),
                capabilities=generator.capabilities,
                templates=settings.templates,
                max_item_chars=settings.max_item_chars,
            )
            g = generator.generate(prompt.messages, options)
            f.write(json.dumps({"i": row["i"], "text": g.text, "finish": g.finish_reason}) + "\n")
            f.flush()


def checks(args: argparse.Namespace) -> None:
    rows = {r["i"]: r for r in load_rows(args.contexts)}
    drafted = load_rows(args.drafts)
    templates = load_pipeline("default").generation.templates
    report: dict[str, Any] = {"benchmark": "support-checks", "drafts": len(drafted)}
    variants: list[tuple[str, str, dict[str, float]]] = [
        ("off", "off", {}),
        ("overlap", "overlap", {}),
    ]
    variants += [
        (f"claims relative={r} floor={fl}", "claims", {"relative": r, "floor": fl})
        for r in (0.3, 0.5, 0.7)
        for fl in (0.0, 0.15, 0.25, 0.35)
    ]
    for name, mode, params in variants:
        for part in ("A", "B"):
            report.setdefault(part, {})[name] = _check_report(
                [d for d in drafted if rows[d["i"]]["half"] == part], rows, mode, params, templates
            )
    print(json.dumps(report))


def _check_report(
    drafted: list[dict[str, Any]],
    rows: dict[int, dict[str, Any]],
    mode: str,
    params: dict[str, float],
    templates: Any,
) -> dict[str, Any]:
    answerer = Answerer(None, templates, GenerationOptions(), support_check=mode)  # type: ignore[arg-type]
    counts = {
        "answered": 0,
        "answered_wrong": 0,
        "answered_right": 0,
        "rejected_right": 0,
        "refused_unanswerable": 0,
        "unanswerable": 0,
        "unchecked_answered": 0,
    }
    with _claims_params(params):
        for d in drafted:
            row = rows[d["i"]]
            prompt = Prompt(messages=[], context=scored(row))
            gen = Generation(text=d["text"], model="smollm2", finish_reason=d["finish"])
            a = answerer._finish(row["question"], prompt, gen, 0.0)
            ok = check_answer(
                a.text, answerable=a.answerable, gold=row["gold"], answer_format=row["format"]
            )
            draft_ok = check_answer(
                d["text"], answerable=True, gold=row["gold"], answer_format=row["format"]
            )
            if row["gold"].strip().lower() == "not answerable":
                counts["unanswerable"] += 1
                counts["refused_unanswerable"] += not a.answerable
            if a.answerable:
                counts["answered"] += 1
                counts["answered_wrong"] += ok is False
                counts["answered_right"] += ok is True
                counts["unchecked_answered"] += ok is None
            elif a.rejection and draft_ok is True:
                counts["rejected_right"] += 1
    counts["wrong_share_of_answers"] = (
        round(counts["answered_wrong"] / counts["answered"], 3) if counts["answered"] else None
    )
    return counts


@contextlib.contextmanager
def _claims_params(params: dict[str, float]) -> Iterator[None]:
    """The claims check with other anchor settings, for the sweep on half A."""
    answer_module.check_claims = functools.partial(check_claims, **params)  # type: ignore[assignment]
    try:
        yield
    finally:
        answer_module.check_claims = check_claims  # type: ignore[assignment]
