"""Plots for reports (matplotlib, rendered to PNG bytes)."""

from __future__ import annotations

import io
from typing import Any

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


def hit_curves(data: ReportData) -> bytes | None:
    """hit@k for k = 1, 3, 5, 10, one line per pipeline."""
    runs = [r for r in data.runs if "hit_curve" in r.summary]
    if not runs:
        return None
    plt, (fig, ax) = _figure()
    for run in runs:
        curve = run.summary["hit_curve"]
        ks = sorted(int(k) for k in curve)
        ax.plot(
            ks,
            [curve[str(k)] if str(k) in curve else curve[k] for k in ks],
            marker="o",
            label=run.name,
        )
    ax.set_xlabel("k (items retrieved)")
    ax.set_ylabel(f"hit@k ({data.manifest.get('level', 'page')} level)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(plt, fig)


def context_vs_accuracy(data: ReportData) -> bytes | None:
    """Mean context items given to the generator against answer accuracy, per pipeline."""
    points = []
    for run in data.runs:
        answers = run.summary.get("answers") or {}
        accuracy = answers.get("check_accuracy") or (run.summary.get("judge") or {}).get(
            "answer_correctness"
        )
        if accuracy and answers.get("context_items") is not None:
            points.append((run.name, answers["context_items"], accuracy))
    if not points:
        return None
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
    ax.set_ylabel("answer accuracy (95% CI)")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return _png(plt, fig)
