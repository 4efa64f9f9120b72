"""What a report says, independent of format: sections of tables, figures and examples."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

from mmrag.evaluate.judge import METRICS
from mmrag.evaluate.report import plots
from mmrag.evaluate.report.data import ReportData, examples


@dataclass(slots=True)
class Table:
    header: list[str]
    rows: list[list[str]]
    note: str = ""


@dataclass(slots=True)
class Figure:
    caption: str
    png: bytes
    name: str


@dataclass(slots=True)
class Item:
    label: str
    text: str
    thumbnail: bytes | None = None


@dataclass(slots=True)
class Example:
    pipeline: str
    question: str
    facts: list[tuple[str, str]]
    items: list[Item] = field(default_factory=list)


@dataclass(slots=True)
class Section:
    title: str
    blocks: list[Table | Figure | Example | str] = field(default_factory=list)


def ci(stat: dict[str, Any] | None) -> str:
    if not stat:
        return "—"
    return f"{stat['mean']:.3f} [{stat['low']:.3f}, {stat['high']:.3f}]"


def build(data: ReportData, *, thumbnails: bool = True) -> list[Section]:
    m = data.manifest
    intro = (
        f"Dataset **{m.get('dataset')}** ({m.get('questions')} questions, "
        f"gold at {m.get('level')} level); "
        f"pipelines: {', '.join(r.name for r in data.runs)}. Intervals are 95% bootstrap CIs "
        "(1,000 resamples of the questions)."
    )
    judges = sorted(
        {r["judge_model"] for run in data.runs for r in run.records if "judge_model" in r}
    )
    if judges:
        intro += f" Answers judged by {', '.join(judges)}."
    sections = [Section("Summary", [intro, _summary(data)])]
    figures = [
        Figure("hit@k per pipeline", png, "hit_at_k.png") for png in [plots.hit_curves(data)] if png
    ] + [
        Figure("context size vs answer accuracy", png, "context_vs_accuracy.png")
        for png in [plots.context_vs_accuracy(data)]
        if png
    ]
    if figures:
        sections.append(Section("Plots", list(figures)))
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
    rows = []
    for run in data.runs:
        s = run.summary
        r = s.get("retrieval", {})
        a = s.get("answers") or {}
        j = s.get("judge") or {}
        rows.append(
            [
                run.name,
                ci(r.get("hit@1")),
                ci(r.get("hit@5")),
                ci(r.get("mrr")),
                ci(r.get("ndcg@5")),
                ci(a.get("check_accuracy")),
                ci(j.get("answer_correctness")),
                f"{a['context_items']:.2f}" if a else "—",
                f"{a['refusal_rate']:.1%}" if a else "—",
            ]
        )
    # Retrieval-only runs have no answer figures: leave out columns with nothing in them.
    keep = [i for i in range(len(header)) if i == 0 or any(row[i] != "—" for row in rows)]
    header = [header[i] for i in keep]
    rows = [[row[i] for i in keep] for row in rows]
    note = "answer check: normalised exact / number / list match against the gold answer."
    return Table(header, rows, note if "answer check" in header else "")


def _judge(data: ReportData) -> list[Table | Figure | Example | str]:
    runs = [r for r in data.runs if r.summary.get("judge")]
    if not runs:
        return []
    header = ["metric", *[r.name for r in runs]]
    rows = []
    for metric in METRICS:
        cells = []
        for run in runs:
            stat = run.summary["judge"].get(metric)
            cells.append(f"{ci(stat)} (invalid {stat['invalid']:.0%})" if stat else "n/a")
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
    return [Table(header, rows, note)]


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
                facts.append(
                    (
                        "answer check",
                        {True: "right", False: "wrong", None: "not checkable"}[record.get("check")],
                    )
                )
            if "picks" in record:
                facts.append(("picked", ", ".join(str(p["option"]) for p in record["picks"])))
            for metric, grade in (record.get("judge") or {}).items():
                if grade.get("status") != "n/a":
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

        opened = Store.open(store)
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
