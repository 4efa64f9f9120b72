"""Plots for reports (matplotlib, rendered to PNG bytes)."""

from __future__ import annotations

import io
from typing import Any

from mmrag.evaluate.report.blocks import Figure
from mmrag.evaluate.report.data import ReportData
from mmrag.models.deps import require


def _figure() -> tuple[Any, tuple[Any, Any]]:
    matplotlib = require("matplotlib", extra="eval", purpose="report plots")
    matplotlib.use("Agg")
    plt = require("matplotlib.pyplot", extra="eval", purpose="report plots")
    return plt, plt.subplots(figsize=(5.2, 3.4), dpi=110)


def _png(plt: Any, fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


#: Curves closer than this at every k are drawn as one: the gap is under one question in
#: a hundred, invisible on the plot and meaningless on these sample sizes.
SAME_CURVE = 0.01


def _curve(summary: dict[str, Any]) -> dict[int, float]:
    return {int(k): float(v) for k, v in summary["hit_curve"].items()}


def hit_curves(data: ReportData) -> Figure | str | None:
    """hit@k for k = 1, 3, 5, 10, one line per group of pipelines with the same curve.

    When every pipeline has the same curve the plot says nothing a sentence cannot, so
    the sentence is returned instead."""
    runs = [r for r in data.runs if "hit_curve" in r.summary]
    if not runs:
        return None
    groups: list[tuple[list[str], dict[int, float]]] = []
    for run in runs:
        curve = _curve(run.summary)
        for names, seen in groups:
            if seen.keys() == curve.keys() and all(
                abs(seen[k] - curve[k]) < SAME_CURVE for k in curve
            ):
                names.append(run.name)
                break
        else:
            groups.append(([run.name], curve))
    if len(runs) > 1 and len(groups) == 1:
        points = ", ".join(f"hit@{k} {v:.3f}" for k, v in sorted(groups[0][1].items()))
        return (
            f"hit@k is not plotted: {', '.join(groups[0][0])} have the same curve within "
            f"{SAME_CURVE} at every k ({points})."
        )
    plt, (fig, ax) = _figure()
    for names, curve in groups:
        ks = sorted(curve)
        ax.plot(ks, [curve[k] for k in ks], marker="o", label=" = ".join(names))
    ax.set_xlabel("k (items retrieved)")
    ax.set_ylabel(f"hit@k ({data.manifest.get('level', 'page')} level)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    caption = "hit@k per pipeline"
    merged = [" and ".join(names) for names, _ in groups if len(names) > 1]
    if merged:
        caption += f" ({'; '.join(merged)} have the same curve, drawn once)"
    return Figure(caption, _png(plt, fig), "hit_at_k.png")


def context_vs_accuracy(data: ReportData) -> Figure | str | None:
    """Mean context items given to the generator against answer accuracy, per pipeline.

    Dropped, with the reason, when it cannot show a relation: one pipeline, the same
    context size everywhere, or accuracies all within each other's intervals."""
    points = []
    for run in data.runs:
        answers = run.summary.get("answers") or {}
        accuracy = answers.get("check_accuracy")
        if accuracy and answers.get("context_items") is not None:
            points.append((run.name, answers["context_items"], accuracy))
    if len(points) < 2:
        return None
    sizes = [items for _, items, _ in points]
    accs = [acc for _, _, acc in points]
    span = f"accuracy {min(a['mean'] for a in accs):.3f}-{max(a['mean'] for a in accs):.3f}"
    span += f", context items {min(sizes):.2f}-{max(sizes):.2f}"
    if max(sizes) - min(sizes) < 0.01:
        return (
            "Context size vs answer accuracy is not plotted: every pipeline passes the same "
            f"context size ({span})."
        )
    if all(a["low"] <= b["high"] and b["low"] <= a["high"] for a in accs for b in accs):
        return (
            "Context size vs answer accuracy is not plotted: the accuracies are all within "
            f"each other's 95% intervals, so the plot could show no relation ({span})."
        )
    plt, (fig, ax) = _figure()
    for name, items, acc in points:
        ax.errorbar(
            items,
            acc["mean"],
            yerr=[[acc["mean"] - acc["low"]], [acc["high"] - acc["mean"]]],
            fmt="o",
            capsize=4,
            label=name,
        )
    ax.set_xlabel("context items passed to the generator (mean)")
    ax.set_ylabel("answer check (95% CI)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return Figure("context size vs answer accuracy", _png(plt, fig), "context_vs_accuracy.png")
