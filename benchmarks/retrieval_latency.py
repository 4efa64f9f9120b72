"""Warm ``Retriever.retrieve`` latency on the dev store, and a check that a change left
its rankings as they were (the ``latency`` section of ``benchmarks/retrieval.py``).

Each answerable question is searched once within its own document and once across the
corpus (text and image summaries, adaptive k: what ``shipped_adaptive_vs_fixed_k10``
times), after a few warm-up searches of other questions, so a question's embedding is
never reused. Reported: median, p95 and mean of the whole call, the medians of the
stages ``Retrieval.timings`` records, and the machine's load average.

``--rankings FILE`` records every call's items (id, relevancy score) for adaptive k and
for k=50; when FILE already exists the run compares against it instead, so a faster
implementation can be shown to rank exactly as before: how many calls return the same
ids in the same order, and the largest difference of a relevancy score (the in-memory
vector search's cosine may differ from LanceDB's in a float32's last bit)::

    .venv/bin/python benchmarks/retrieval.py --store bench-out/mmlongbench \\
        --only latency --limit 100 --rankings bench-out/rankings.json
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmrag import NodeKind
from mmrag.evaluate.dataset import Example
from mmrag.retrieve import Retriever, SearchFilter

KINDS = (NodeKind.TEXT, NodeKind.IMAGE_SUMMARY)
WARMUP = 5


def calls(examples: Sequence[Example]) -> list[tuple[str, str, SearchFilter]]:
    """(question, scope, filter) of every timed call, within-document ones first."""
    within = [
        (
            e.question,
            "within_doc",
            SearchFilter(sources=tuple(x.source for x in e.evidence), kinds=KINDS),
        )
        for e in examples
    ]
    corpus = [(e.question, "corpus", SearchFilter(kinds=KINDS)) for e in examples]
    return within + corpus


def latency_figures(
    retriever: Retriever, examples: Sequence[Example], rankings: Path | None = None
) -> dict[str, Any]:
    # A handful of questions (the tests' corpus) are timed after warming up on themselves.
    todo = calls(examples[WARMUP:] if len(examples) > 2 * WARMUP else examples)
    for question, _, filters in calls(examples[:WARMUP]):
        retriever.retrieve(question, filters=filters)
    load_before = os.getloadavg()
    seconds: list[float] = []
    stages: dict[str, list[float]] = defaultdict(list)
    ranked: list[dict[str, Any]] = []
    for question, scope, filters in todo:
        started = time.perf_counter()
        found = retriever.retrieve(question, filters=filters)
        seconds.append(time.perf_counter() - started)
        for stage, value in found.timings.items():
            stages[stage].append(value)
        if rankings is not None:
            top = retriever.retrieve(question, filters=filters, k=50)
            ranked.append(
                {
                    "question": question,
                    "scope": scope,
                    "adaptive": _items(found.items),
                    "k50": _items(top.items),
                }
            )
    seconds.sort()
    figures: dict[str, Any] = {
        "calls": len(seconds),
        "median_ms": _ms(statistics.median(seconds)),
        "p95_ms": _ms(seconds[int(0.95 * (len(seconds) - 1))]),
        "mean_ms": _ms(statistics.fmean(seconds)),
        "stages_median_ms": {k: _ms(statistics.median(v)) for k, v in stages.items()},
        "load_average_1m": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        # onnx or torch (mmrag.models.text_embed.onnx_queries): which one these figures are.
        "query_runtime": getattr(retriever.components.text_embedder, "query_runtime", None),
    }
    if rankings is not None:
        figures["rankings"] = _record_or_compare(rankings, ranked)
    return figures


def _items(items: Sequence[Any]) -> list[tuple[str, float]]:
    return [(i.node.id, float(i.score)) for i in items]


def _record_or_compare(path: Path, ranked: list[dict[str, Any]]) -> dict[str, Any]:
    if not path.is_file():
        path.write_text(json.dumps(ranked), encoding="utf-8")
        return {"recorded": str(path), "calls": len(ranked)}
    before = json.loads(path.read_text(encoding="utf-8"))
    out: dict[str, Any] = {"compared_with": str(path), "calls": len(ranked)}
    for key in ("adaptive", "k50"):
        pairs = list(zip(ranked, before, strict=True))
        same = [[i for i, _ in r[key]] == [i for i, _ in o[key]] for r, o in pairs]
        out[f"{key}_same_ids_in_order"] = sum(same)
        out[f"{key}_max_score_difference"] = max(
            (
                abs(a[1] - b[1])
                for (r, o), equal in zip(pairs, same, strict=True)
                if equal
                for a, b in zip(r[key], o[key], strict=True)
            ),
            default=0.0,
        )
    out["questions_match"] = [r["question"] for r in ranked] == [r["question"] for r in before]
    return out


def _ms(seconds: float) -> float:
    return round(1000 * seconds, 1)
