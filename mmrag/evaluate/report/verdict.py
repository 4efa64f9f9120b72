"""The report's first lines: which pipeline retrieves best, which answers best, and
whether either lead is larger than chance.

A lead counts only when a *paired* bootstrap interval of the per-question difference
excludes zero: both pipelines answered the same questions, so comparing their separate
intervals would understate what the data can tell apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mmrag.evaluate.metrics import bootstrap_ci, mean
from mmrag.evaluate.report.data import PipelineRun, ReportData

PerQuestion = Callable[[dict[str, Any]], float | None]


@dataclass(frozen=True, slots=True)
class Ranking:
    """The best pipeline by one per-question figure, and its lead over the runner-up."""

    metric: str
    best: str
    value: float
    runner_up: str | None = None
    runner_value: float | None = None
    #: 95% paired bootstrap interval of best minus runner-up, over shared questions.
    lead: tuple[float, float] | None = None
    #: Questions both were scored on.
    lead_n: int = 0
    #: Every pipeline with the best value, when more than one has it.
    tied: tuple[str, ...] = ()

    @property
    def clear(self) -> bool:
        return self.lead is not None and self.lead[0] > 0

    @property
    def tie(self) -> bool:
        return len(self.tied) > 1

    def describe(self, verb: str) -> str:
        head = f"**{self.best}** {verb} best ({self.metric} {self.value:.3f}"
        if self.runner_up is None or self.runner_value is None:
            return head + ")"
        if self.tie:
            names = ", ".join(self.tied[:-1]) + f" and {self.tied[-1]}"
            return f"{names} tie on {self.metric} ({self.value:.3f})"
        head += f"; next {self.runner_up} {self.runner_value:.3f}"
        if self.lead is None:
            return head + ")"
        low, high = self.lead
        sign = "exceeds" if self.clear else "is within"
        return (
            f"{head}; the lead {self.value - self.runner_value:+.3f}, 95% CI "
            f"[{low:+.3f}, {high:+.3f}], {sign} the noise of {self.lead_n} shared questions)"
        )


def retrieval_score(record: dict[str, Any]) -> float | None:
    return (record.get("retrieval") or {}).get("hit@5")


def answer_score(record: dict[str, Any]) -> float | None:
    """Right (1) or wrong (0) by the run's deterministic check, refusals included."""
    if record.get("check") is not None:
        return float(record["check"])
    if "picks" in record:
        return float(bool(record.get("correct")))
    return None


def rank(runs: list[PipelineRun], metric: str, score: PerQuestion) -> Ranking | None:
    scored = []
    for run in runs:
        values = {r["id"]: v for r in run.records if (v := score(r)) is not None}
        if values:
            scored.append((mean(list(values.values())), run.name, values))
    if not scored:
        return None
    # Stable: among equal means, the pipeline listed first wins.
    scored.sort(key=lambda s: -s[0])
    best_mean, best, best_values = scored[0]
    if len(scored) == 1:
        return Ranking(metric, best, best_mean)
    next_mean, runner, runner_values = scored[1]
    shared = sorted(best_values.keys() & runner_values.keys())
    lead = None
    if shared:
        lead = bootstrap_ci([best_values[q] - runner_values[q] for q in shared])
    tied = tuple(name for m, name, _ in scored if abs(m - best_mean) < 1e-9)
    return Ranking(metric, best, best_mean, runner, next_mean, lead, len(shared), tied)


def verdict(data: ReportData) -> list[str]:
    """The verdict line, and why retrieval and answers disagree when they do."""
    retrieval = rank(data.runs, "hit@5", retrieval_score)
    answers = rank(data.runs, "answer check", answer_score)
    parts = []
    if retrieval:
        parts.append(retrieval.describe("retrieves"))
    if answers:
        parts.append(answers.describe("answers") + _composition(data, answers))
    if not parts:
        return []
    if len(data.runs) == 1:
        figures = [f"{r.metric} {r.value:.3f}" for r in (retrieval, answers) if r]
        name = data.runs[0].name
        return [f"**Verdict:** one pipeline, {name}, nothing to compare: {', '.join(figures)}."]
    lines = ["**Verdict:** " + "; ".join(parts) + "."]
    if (
        retrieval
        and answers
        and answers.best != retrieval.best
        and not (answers.tie or retrieval.tie)
    ):
        lines.append(_disagreement(data, retrieval, answers))
    rules = _rules(data)
    if len(set(rules.values())) > 1:
        lines.append(
            "Answers are scored by different rules ("
            + ", ".join(f"{name}: {rule}" for name, rule in rules.items())
            + "), so answer figures compare pipelines only loosely."
        )
    return lines


def _composition(data: ReportData, answers: Ranking) -> str:
    """What the best answer check is made of: right answers or right refusals."""
    if answers.tie:
        return ""
    run = next(r for r in data.runs if r.name == answers.best)
    trust = run.summary.get("trust")
    if not trust:
        return ""
    return (
        f", made of {trust['right']} right answers and {trust['refused_unanswerable']} "
        "right refusals"
    )


def _disagreement(data: ReportData, retrieval: Ranking, answers: Ranking) -> str:
    by_name = {run.name: run.summary.get("answers") or {} for run in data.runs}
    good, bad = by_name.get(answers.best, {}), by_name.get(retrieval.best, {})
    text = (
        f"Retrieval and answers rank the pipelines differently: {retrieval.best} finds the "
        f"evidence more often, yet {answers.best} is right more often. "
    )
    if not answers.clear:
        text += "The answer lead is within the noise, so the answer ranking may be chance. "
    if good and bad:
        text += (
            "Answers depend on what the answerer does with the context, not only on "
            f"finding it: {answers.best} refused {good['refusal_rate']:.0%} with "
            f"{good['context_items']:.2f} context items, {retrieval.best} refused "
            f"{bad['refusal_rate']:.0%} with {bad['context_items']:.2f}."
        )
    return text.strip()


def _rules(data: ReportData) -> dict[str, str]:
    """Which rule scored each pipeline's answers (a mix is listed as such)."""
    out = {}
    for run in data.runs:
        rules = ((run.summary.get("trust") or {}).get("rules")) or {}
        if rules:
            out[run.name] = " + ".join(sorted(rules))
    return out
