"""The report's trust section: how often each pipeline is confidently wrong, and how it
refuses, with the rule that scored it."""

from __future__ import annotations

from typing import Any

from mmrag.evaluate.report.blocks import Table, ci, highlight
from mmrag.evaluate.report.data import ReportData

RULES_NOTE = (
    "Rules: exact-match scores a generated short answer (the gold string, normalised; or "
    "the gold number and no other number beyond the question's own); quote-contains-gold "
    "scores an extractive answer by whether its quoted passages contain the gold as whole "
    "words or as a number. Confidently wrong and right are shares of the answers given; "
    "refusals are shares of the questions of their kind; quote contains gold is a share "
    "of the answerable questions whose gold is one string or number (refusals count as "
    "not containing it)."
)

HEADER = [
    "pipeline",
    "rule",
    "answered",
    "right (of answered)",
    "confidently wrong (of answered)",
    "refused (answerable)",
    "refused (not answerable)",
    "quote contains gold",
    "words per answer",
]
#: Which way is better, per column index of HEADER. Refusal rates are not ranked: fewer
#: refusals of answerable questions is not better when the answers given are wrong.
BETTER: dict[int, str] = {3: "high", 4: "low", 7: "high"}


def trust_table(data: ReportData) -> Table | None:
    runs = [r for r in data.runs if r.summary.get("trust")]
    if not runs:
        return None
    rows, stats = [], []
    for run in runs:
        t: dict[str, Any] = run.summary["trust"]
        keys = (
            "right_of_answered",
            "confidently_wrong_of_answered",
            "refused_of_answerable",
            "refused_of_unanswerable",
            "quote_contains_gold",
        )
        stats.append([None, None, None, *[t.get(k) for k in keys], None])
        rows.append(
            [
                run.name,
                " + ".join(sorted(t["rules"])),
                f"{t['answered']} of {t['questions']}",
                *[_share(t.get(k)) for k in keys],
                str(t.get("words_per_answer", "—")),
            ]
        )
    highlight(rows, stats, BETTER)
    return Table(list(HEADER), rows, RULES_NOTE)


def _share(stat: dict[str, Any] | None) -> str:
    return f"{ci(stat)} (n={stat['n']})" if stat else "—"
