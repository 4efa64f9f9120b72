"""What a report says, independent of format: sections of tables, figures and examples."""

from __future__ import annotations

import io
from typing import Any

from mmrag.evaluate.judge import METRICS
from mmrag.evaluate.report import plots
from mmrag.evaluate.report.blocks import Example, Figure, Item, Section, Table, ci, highlight
from mmrag.evaluate.report.data import PipelineRun, ReportData, examples
from mmrag.evaluate.report.trust_table import trust_table
from mmrag.evaluate.report.verdict import verdict

__all__ = ["Example", "Figure", "Item", "Section", "Table", "build", "ci"]

#: How to get grades a report can use when the judge gave none.
JUDGE_HINT = (
    "Judge with a real model: `mmrag eval run ... --judge-with openai` grades with the "
    "`openai` pipeline's generator (any OpenAI-compatible server; set OPENAI_BASE_URL and "
    "OPENAI_API_KEY)."
)


def build(data: ReportData, *, thumbnails: bool = True) -> list[Section]:
    m = data.manifest
    intro = (
        f"Dataset **{m.get('dataset')}** ({m.get('questions')} questions, "
        f"gold at {m.get('level')} level); "
        f"pipelines: {', '.join(r.name for r in data.runs)}. Intervals are 95% bootstrap CIs "
        "(1,000 resamples of the questions); the best value of each column is in bold."
    )
    judges = sorted(
        {r["judge_model"] for run in data.runs for r in run.records if "judge_model" in r}
    )
    if judges:
        intro += f" Answers judged by {', '.join(judges)}."
    sections = [Section("Summary", [*verdict(data), intro, _summary(data)])]
    trust = trust_table(data)
    if trust:
        sections.append(Section("Trust: right, confidently wrong, refused", [trust]))
    plotted = [p for p in (plots.hit_curves(data), plots.context_vs_accuracy(data)) if p]
    if plotted:
        sections.append(Section("Plots", list(plotted)))
    judged = _judge(data)
    if judged:
        sections.append(
            Section("LLM-as-judge (Beyond Text's six metrics + personalization)", judged)
        )
    choice = _choices(data)
    if choice:
        sections.append(Section("Multiple choice (order-free)", [choice]))
    sections.append(Section("By evidence type", [_tags(data)]))
    sections.append(Section("Cost per question", [_cost(data)]))
    sections.append(Section("Examples", _examples(data, thumbnails)))
    return sections


def _summary(data: ReportData) -> Table:
    header = [
        "pipeline",
        "hit@1",
        "hit@5",
        "MRR",
        "nDCG@5",
        "answer check",
        "judge: correct",
        "context items",
        "refused",
    ]
    rows, stats = [], []
    for run in data.runs:
        s = run.summary
        r = s.get("retrieval", {})
        a = s.get("answers") or {}
        judged = _valid_judge(run, "answer_correctness")
        numbers = [
            r.get("hit@1"),
            r.get("hit@5"),
            r.get("mrr"),
            r.get("ndcg@5"),
            a.get("check_accuracy"),
            judged,
        ]
        stats.append([None, *numbers, None, None])
        rows.append(
            [
                run.name,
                *[ci(n) for n in numbers],
                f"{a['context_items']:.2f}" if a else "—",
                f"{a['refusal_rate']:.1%}" if a else "—",
            ]
        )
    highlight(rows, stats, {i: "high" for i in range(1, 7)})
    # Columns with nothing in them (retrieval-only runs, no valid judge) are left out.
    keep = [i for i in range(len(header)) if i == 0 or any(row[i] != "—" for row in rows)]
    header = [header[i] for i in keep]
    rows = [[row[i] for i in keep] for row in rows]
    notes = []
    if "answer check" in header:
        rules = {
            run.name: " + ".join(sorted((run.summary.get("trust") or {}).get("rules") or {}))
            for run in data.runs
        }
        named = ", ".join(f"{k}: {v}" for k, v in rules.items() if v)
        notes.append(
            "answer check: right by the gold, refusals of unanswerable questions included; "
            + (f"rule per pipeline — {named} (see Trust)." if named else "normalised match.")
        )
    if _judge_ran(data) and "judge: correct" not in header:
        notes.append("judge: no valid grade (see LLM-as-judge).")
    return Table(header, rows, " ".join(notes))


def _judge_ran(data: ReportData) -> bool:
    return any(r.summary.get("judge") for r in data.runs)


def _valid_judge(run: PipelineRun, metric: str) -> dict[str, Any] | None:
    """A judge figure worth showing: one with at least one readable grade."""
    stat = (run.summary.get("judge") or {}).get(metric)
    return stat if stat and stat["invalid"] < 1.0 else None


def _judge(data: ReportData) -> list[Table | Figure | Example | str]:
    runs = [r for r in data.runs if r.summary.get("judge")]
    if not runs:
        return []
    models = sorted({r["judge_model"] for run in runs for r in run.records if "judge_model" in r})
    by = f" from {', '.join(models)}" if models else ""
    metrics = [m for m in METRICS if any(_valid_judge(run, m) for run in runs)]
    if not metrics:
        return [
            f"No valid judge ran: every grade{by} was unreadable or failed (invalid 100%), "
            "so no judge figures are shown. " + JUDGE_HINT
        ]
    header = ["metric", *[r.name for r in runs]]
    rows = []
    for metric in metrics:
        cells = []
        for run in runs:
            stat = run.summary["judge"].get(metric)
            if not stat:
                cells.append("n/a")
            elif stat["invalid"] >= 1.0:
                cells.append("no valid grade")
            else:
                cells.append(f"{ci(stat)} (invalid {stat['invalid']:.0%})")
        rows.append([metric, *cells])
    agreement = []
    for run in runs:
        a = run.summary["judge"].get("agreement_with_check")
        agreement.append(f"{a['agreement']:.1%} (κ={a['kappa']}, n={a['n']})" if a else "—")
    rows.append(["agreement with the answer check", *agreement])
    note = (
        "Pass rates; a reply the parser could not read counts as a fail and is shown as invalid. "
        "Agreement with the deterministic check says how far this judge can be trusted."
    )
    dropped = [
        m for m in METRICS if m not in metrics and any(m in r.summary["judge"] for r in runs)
    ]
    blocks: list[Table | Figure | Example | str] = [Table(header, rows, note)]
    if dropped:
        blocks.append(
            f"Not shown, no valid grade{by} in any pipeline: {', '.join(dropped)}. " + JUDGE_HINT
        )
    return blocks


def _choices(data: ReportData) -> Table | None:
    runs = [r for r in data.runs if r.summary.get("choices")]
    if not runs:
        return None
    rows = []
    for run in runs:
        c = run.summary["choices"]
        bias = c["position_bias"]
        rows.append(
            [
                run.name,
                c["method"],
                ci(c["order_free_accuracy"]),
                f"{bias['picked_first_option_rate']:.1%}",
                str(bias["gold"]),
            ]
        )
    return Table(
        ["pipeline", "method", "accuracy (all orders right)", "picked option A", "gold letters"],
        rows,
    )


def _tags(data: ReportData) -> Table:
    tags = sorted({t for r in data.runs for t in r.summary.get("by_tag", {})})
    checked = any(
        "check_accuracy" in entry for r in data.runs for entry in r.summary["by_tag"].values()
    )
    metrics = ("hit@5", "check_accuracy") if checked else ("hit@5",)
    suffix = " hit@5 / check" if checked else " hit@5"
    header = ["tag", "n", *[r.name + suffix for r in data.runs]]
    rows = []
    for tag in tags:
        cells, n = [], 0
        for run in data.runs:
            entry = run.summary["by_tag"].get(tag, {})
            n = max(n, entry.get("n", 0))
            values = [entry.get(m) for m in metrics]
            cells.append(" / ".join("—" if v is None else f"{v:.2f}" for v in values))
        rows.append([tag, str(n), *cells])
    return Table(header, rows)


def _cost(data: ReportData) -> Table:
    keys = sorted({k for r in data.runs for k in r.summary.get("cost", {})})
    rows = [[k, *[str(r.summary["cost"].get(k, "—")) for r in data.runs]] for k in keys]
    return Table(
        ["", *[r.name for r in data.runs]], rows, "seconds per stage and tokens, mean per question."
    )


def _examples(data: ReportData, thumbnails: bool) -> list[Table | Figure | Example | str]:
    out: list[Table | Figure | Example | str] = []
    for run in data.runs:
        images = _image_loader(run.store if thumbnails else None)
        for record in examples(run):
            facts = []
            if record.get("gold") is not None:
                facts.append(("gold answer", str(record["gold"])))
            if record.get("evidence"):
                facts.append(("gold evidence", _evidence(record["evidence"])))
            if "answer" in record:
                facts.append(("answer", record["answer"]))
                facts.append(("answer check", _check_fact(record)))
            if "picks" in record:
                facts.append(("picked", ", ".join(str(p["option"]) for p in record["picks"])))
            for metric, grade in (record.get("judge") or {}).items():
                if grade.get("status") != "n/a" and _valid_judge(run, metric):
                    verdict = {True: "pass", False: "fail", None: grade.get("status")}[
                        grade.get("passed")
                    ]
                    facts.append(
                        (
                            f"judge {metric}",
                            f"{verdict} — {grade.get('reason') or grade.get('raw', '')[:120]}",
                        )
                    )
            items = [
                Item(
                    _item_label(i),
                    i["text"][:240],
                    images(i.get("image_id")),
                )
                for i in (record.get("context") or record.get("retrieved") or [])[:4]
            ]
            out.append(Example(run.name, record["question"], facts, items))
    return out


def _check_fact(record: dict[str, Any]) -> str:
    trust = record.get("trust")
    if trust:
        return f"{trust['outcome'].replace('_', ' ')} (by {trust['rule']})"
    return {True: "right", False: "wrong", None: "not checkable"}[record.get("check")]


def _evidence(evidence: list[dict[str, Any]]) -> str:
    parts = []
    for ev in evidence:
        pages = ev.get("pages") or []
        parts.append(ev["source"] + (" p." + ", ".join(map(str, pages)) if pages else ""))
    return "; ".join(parts)


def _item_label(item: dict[str, Any]) -> str:
    page = f" p.{item['page']}" if item.get("page") is not None else ""
    mark = " ✓ gold" if item.get("gold") else ""
    return f"{item['source']}{page} ({item['kind']}, {item['score']:.3f}){mark}"


def _image_loader(store: str | None):  # type: ignore[no-untyped-def]
    """Thumbnails of stored images, when the run's store is still there."""
    if not store:
        return lambda image_id: None
    try:
        from mmrag.store import Store

        opened = Store.open(store, create=False)  # a deleted store stays deleted
    except Exception:
        return lambda image_id: None

    def thumbnail(image_id: str | None) -> bytes | None:
        if not image_id:
            return None
        found = opened.image_bytes(image_id, user=None)
        if found is None:
            return None
        from PIL import Image

        picture = Image.open(io.BytesIO(found[0])).convert("RGB")
        picture.thumbnail((160, 160))
        buf = io.BytesIO()
        picture.save(buf, format="JPEG", quality=80)
        return buf.getvalue()

    return thumbnail
