"""Aggregating per-question records into the figures a report shows (with 95% CIs)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from typing import Any

from mmrag.evaluate.judge import METRICS
from mmrag.evaluate.metrics import mean, with_ci
from mmrag.evaluate.trust import tally

RETRIEVAL_KEYS = ("hit@1", "hit@3", "hit@5", "hit@10", "recall@5", "ndcg@5", "ndcg@10", "mrr")


def summarize(records: Sequence[dict[str, Any]], level: str) -> dict[str, Any]:
    out: dict[str, Any] = {"questions": len(records), "level": level}
    retrieval = [r["retrieval"] for r in records if r.get("retrieval")]
    if retrieval:
        out["retrieval"] = {
            k: with_ci([m[k] for m in retrieval]) for k in RETRIEVAL_KEYS if k in retrieval[0]
        }
        out["hit_curve"] = {
            k: round(mean([m[f"hit@{k}"] for m in retrieval]), 4) for k in (1, 3, 5, 10)
        }
    answered = [r for r in records if "answer" in r]
    if answered:
        checked = [float(r["check"]) for r in answered if r.get("check") is not None]
        out["answers"] = {
            "check_accuracy": with_ci(checked) if checked else None,
            "refusal_rate": round(mean([float(not r["answerable"]) for r in answered]), 4),
            "context_items": round(mean([r["context_items"] for r in answered]), 3),
            "context_precision": _precision(answered),
        }
        out["judge"] = _judge(answered)
        trust = tally(
            [r["trust"] | {"words": len(r["answer"].split())} for r in answered if r.get("trust")]
        )
        if trust:
            out["trust"] = trust
    choices = [r for r in records if "picks" in r]
    if choices:
        out["choices"] = _choices(choices)
    out["by_tag"] = _by_tag(records)
    out["cost"] = _cost(records)
    return out


def _precision(records: Sequence[dict[str, Any]]) -> float | None:
    pairs = [
        (r["context_relevant"], r["context_items"])
        for r in records
        if r.get("context_relevant") is not None and r["context_items"]
    ]
    return round(mean([a / b for a, b in pairs]), 4) if pairs else None


def _judge(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    judged = [r["judge"] for r in records if r.get("judge")]
    if not judged:
        return {}
    out: dict[str, Any] = {}
    for metric in METRICS:
        grades = [j[metric] for j in judged if j.get(metric, {}).get("status") not in (None, "n/a")]
        if grades:
            out[metric] = {
                **with_ci([float(g["passed"] is True) for g in grades]),
                "invalid": round(
                    mean([float(g["status"] not in ("ok", "lenient")) for g in grades]), 4
                ),
            }
    pairs = [
        (bool(r["check"]), r["judge"]["answer_correctness"]["passed"])
        for r in records
        if r.get("check") is not None
        and r.get("judge", {}).get("answer_correctness", {}).get("status") == "ok"
    ]
    if pairs:
        agree = mean([float(c == j) for c, j in pairs])
        out["agreement_with_check"] = {
            "agreement": round(agree, 4),
            "kappa": _kappa(pairs),
            "n": len(pairs),
        }
    return out


def _kappa(pairs: Sequence[tuple[bool, bool]]) -> float | None:
    n = len(pairs)
    observed = sum(1 for a, b in pairs if a == b) / n
    pa, pb = sum(a for a, _ in pairs) / n, sum(b for _, b in pairs) / n
    expected = pa * pb + (1 - pa) * (1 - pb)
    return round((observed - expected) / (1 - expected), 4) if expected < 1 else None


def _choices(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    first_letters = Counter(r["picks"][0]["letter"] or "-" for r in records)
    gold_first = Counter(
        t.split(":", 1)[1] for r in records for t in r.get("tags", []) if t.startswith("gold:")
    )
    return {
        "order_free_accuracy": with_ci([float(r["correct"]) for r in records]),
        "method": records[0].get("choice_method"),
        "position_bias": {
            "picked": dict(first_letters),
            "gold": dict(gold_first),
            "picked_first_option_rate": round(first_letters.get("A", 0) / len(records), 4),
        },
    }


def _by_tag(records: Sequence[dict[str, Any]]) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        for tag in r.get("tags") or ["(none)"]:
            groups[tag].append(r)
    out = {}
    for tag, rows in sorted(groups.items()):
        entry: dict[str, Any] = {"n": len(rows)}
        hits = [r["retrieval"]["hit@5"] for r in rows if r.get("retrieval")]
        if hits:
            entry["hit@5"] = round(mean(hits), 4)
        checks = [float(r["check"]) for r in rows if r.get("check") is not None]
        if checks:
            entry["check_accuracy"] = round(mean(checks), 4)
        out[tag] = entry
    return out


def _cost(records: Sequence[dict[str, Any]]) -> dict[str, float]:
    stages: dict[str, list[float]] = defaultdict(list)
    tokens: dict[str, list[float]] = defaultdict(list)
    for r in records:
        for stage, seconds in (r.get("timings") or {}).items():
            stages[stage].append(seconds)
        for kind, count in (r.get("tokens") or {}).items():
            tokens[kind].append(count)
    return {
        **{f"seconds_{k}": round(mean(v), 4) for k, v in sorted(stages.items())},
        **{f"tokens_{k}": round(mean(v), 1) for k, v in sorted(tokens.items())},
    }
