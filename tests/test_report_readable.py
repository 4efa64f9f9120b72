"""Reports a reader understands at a glance: verdict, highlights, honest judge and plots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mmrag.evaluate.report import build_report
from mmrag.evaluate.trust import verdict

QUESTIONS = 40


def _records(
    hits: list[float],
    checks: list[bool],
    *,
    context_items: float = 4.0,
    refused: int = 0,
    judge_status: str | None = None,
    extractive: bool = False,
) -> list[dict[str, Any]]:
    rows = []
    for i, (hit, right) in enumerate(zip(hits, checks, strict=True)):
        answered = i >= refused
        gold = "65534"
        answer = "65534" if right else "41"
        v = verdict(
            answer, answered=answered, extractive=extractive, gold=gold, answer_format="Int"
        )
        row: dict[str, Any] = {
            "id": f"q{i}",
            "question": f"question {i}?",
            "tags": ["Table"],
            "gold": gold,
            "retrieval": {
                "hit@1": hit,
                "hit@3": hit,
                "hit@5": hit,
                "hit@10": hit,
                "mrr": hit,
                "ndcg@5": hit,
            },
            "answer": answer if answered else "The documents do not contain the answer.",
            "answerable": answered,
            "context_items": context_items,
            "check": v.correct,
            "trust": v.to_dict(),
        }
        if judge_status:
            row["judge_model"] = "llama-cpp:tiny"
            row["judge"] = {
                "answer_correctness": {"passed": None, "status": judge_status, "reason": "x"},
                "text_faithfulness": {"passed": None, "status": judge_status, "reason": "x"},
            }
        rows.append(row)
    return rows


def _folder(tmp_path: Path, runs: dict[str, list[dict[str, Any]]]) -> Path:
    folder = tmp_path / "eval"
    manifest = {"dataset": "toy", "level": "page", "questions": QUESTIONS, "pipelines": list(runs)}
    (folder / "runs").mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))
    for name, records in runs.items():
        (folder / "runs" / name).mkdir()
        lines = "".join(json.dumps(r) + "\n" for r in records)
        (folder / "runs" / name / "records.jsonl").write_text(lines)
    return folder


def _split(n_true: int, n: int = QUESTIONS) -> list[bool]:
    return [True] * n_true + [False] * (n - n_true)


def _report(tmp_path: Path, runs: dict[str, list[dict[str, Any]]]) -> tuple[str, str]:
    md, html = build_report(_folder(tmp_path, runs), thumbnails=False)
    return md.read_text(), html.read_text()


def test_verdict_names_the_best_and_whether_the_lead_is_real(tmp_path: Path) -> None:
    strong = [float(x) for x in _split(32)]
    weak = [float(x) for x in _split(8)]
    md, html = _report(
        tmp_path,
        {
            "weak": _records(weak, _split(10)),
            "strong": _records(strong, _split(11)),
        },
    )
    first = next(line for line in md.splitlines() if line.startswith("**Verdict:**"))
    # The verdict comes before any table.
    assert md.index(first) < md.index("| pipeline")
    assert "**strong** retrieves best (hit@5 0.800; next weak 0.200" in first
    assert "exceeds the noise" in first.split(";")[2]
    # 11 vs 10 right of 40: the answer lead is within the noise.
    assert "**strong** answers best" in first and "is within the noise" in first
    assert first.endswith("made of 11 right answers and 0 right refusals.")
    assert "<b>Verdict:</b>" in html


def _summary_rows(md: str) -> dict[str, str]:
    """The rows of the summary table, by pipeline."""
    lines = md.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| pipeline | hit@1"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("| "):
            break
        rows[line.split("|")[1].strip()] = line
    return rows


def test_best_values_are_bold(tmp_path: Path) -> None:
    md, html = _report(
        tmp_path,
        {
            "a": _records([float(x) for x in _split(10)], _split(20)),
            "b": _records([float(x) for x in _split(30)], _split(5)),
        },
    )
    rows = _summary_rows(md)
    assert "**0.750**" in rows["b"] and "**0.250**" not in rows["a"]  # hit@5
    assert "**0.500**" in rows["a"]  # answer check
    assert "<b>0.750</b>" in html


def test_disagreeing_rankings_are_explained(tmp_path: Path) -> None:
    md, _ = _report(
        tmp_path,
        {
            "finder": _records([float(x) for x in _split(36)], _split(4), refused=20),
            "answerer": _records([float(x) for x in _split(20)], _split(30), context_items=2.0),
        },
    )
    assert "Retrieval and answers rank the pipelines differently" in md
    assert "finder finds the evidence more often, yet answerer is right more often" in md
    assert "answerer refused 0% with 2.00 context items, finder refused 50% with 4.00" in md


def test_agreeing_rankings_need_no_explanation(tmp_path: Path) -> None:
    md, _ = _report(
        tmp_path,
        {
            "a": _records([float(x) for x in _split(30)], _split(30)),
            "b": _records([float(x) for x in _split(10)], _split(10)),
        },
    )
    assert "rank the pipelines differently" not in md


@pytest.mark.parametrize("status", ["invalid", "error"])
def test_a_judge_with_no_valid_grade_is_one_line(tmp_path: Path, status: str) -> None:
    hits = [float(x) for x in _split(20)]
    md, _ = _report(
        tmp_path,
        {
            "a": _records(hits, _split(10), judge_status=status),
            "b": _records(hits, _split(12), judge_status=status),
        },
    )
    section = md.split("## LLM-as-judge")[1].split("\n## ")[0].split("\n", 1)[1]
    assert "No valid judge ran" in section and "--judge-with" in section
    assert section.strip().count("\n") == 0  # one line, no table
    header = next(line for line in md.splitlines() if line.startswith("| pipeline"))
    assert "judge" not in header
    assert "judge answer_correctness" not in md  # no invalid grades in the examples


def test_a_partly_valid_judge_keeps_its_table(tmp_path: Path) -> None:
    hits = [float(x) for x in _split(20)]
    records = _records(hits, _split(10), judge_status="invalid")
    for r in records[:5]:
        r["judge"]["answer_correctness"] = {"passed": True, "status": "ok", "reason": "y"}
    md, _ = _report(tmp_path, {"a": records})
    section = md.split("## LLM-as-judge")[1].split("\n## ")[0]
    assert "| answer_correctness |" in section
    assert "Not shown, no valid grade from llama-cpp:tiny in any pipeline: text_faithfulness" in (
        section
    )


def test_identical_hit_curves_are_not_plotted(tmp_path: Path) -> None:
    hits = [float(x) for x in _split(20)]
    md, _ = _report(tmp_path, {"a": _records(hits, _split(10)), "b": _records(hits, _split(11))})
    assert "hit@k is not plotted: a, b have the same curve" in md
    assert "hit_at_k.png" not in md


def test_coinciding_curves_are_drawn_once_and_said_so(tmp_path: Path) -> None:
    same = [float(x) for x in _split(20)]
    other = [float(x) for x in _split(35)]
    md, _ = _report(
        tmp_path,
        {
            "a": _records(same, _split(10)),
            "b": _records(same, _split(10)),
            "c": _records(other, _split(10)),
        },
    )
    assert "![hit@k per pipeline (a and b have the same curve, drawn once)]" in md


def test_context_plot_without_a_difference_says_so(tmp_path: Path) -> None:
    hits = [float(x) for x in _split(20)]
    md, _ = _report(
        tmp_path,
        {
            "a": _records(hits, _split(4), context_items=3.5),
            "b": _records(hits, _split(6), context_items=4.0),
            "c": _records([float(x) for x in _split(30)], _split(5), context_items=2.0),
        },
    )
    assert "Context size vs answer accuracy is not plotted: the accuracies are all within" in md
    assert "context_vs_accuracy.png" not in md


def test_context_plot_with_a_clear_difference_is_drawn(tmp_path: Path) -> None:
    md, _ = _report(
        tmp_path,
        {
            "a": _records([float(x) for x in _split(20)], _split(4), context_items=2.0),
            "b": _records([float(x) for x in _split(30)], _split(36), context_items=5.0),
        },
    )
    assert "![context size vs answer accuracy](report-assets/context_vs_accuracy.png)" in md


def test_trust_section_says_which_rule_scored_each_pipeline(tmp_path: Path) -> None:
    hits = [float(x) for x in _split(20)]
    md, _ = _report(
        tmp_path,
        {
            "generate": _records(hits, _split(10), refused=5),
            "quotes": _records(hits, _split(12), extractive=True),
        },
    )
    section = md.split("## Trust")[1].split("\n## ")[0]
    rows = {line.split("|")[1].strip(): line for line in section.splitlines() if "| " in line}
    assert "| exact-match | 35 of 40 |" in rows["generate"]
    assert "| quote-contains-gold | 40 of 40 |" in rows["quotes"]
    assert "quote contains gold" in section and "Rules: exact-match" in section
    assert "Answers are scored by different rules" in md
    # Lowest share confidently wrong is bold: 28/40 (quotes) vs 25/35 (generate).
    assert "**0.700**" in rows["quotes"]


def test_a_tie_names_every_pipeline_in_it(tmp_path: Path) -> None:
    md, _ = _report(
        tmp_path,
        {
            name: _records([float(x) for x in _split(hits)], _split(10))
            for name, hits in (("a", 10), ("b", 20), ("c", 30))
        },
    )
    assert "a, b and c tie on answer check (0.250)" in md
    assert "rank the pipelines differently" not in md


def test_eval_report_prints_the_verdict(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mmrag.cli import app

    folder = _folder(
        tmp_path,
        {
            "a": _records([float(x) for x in _split(30)], _split(30)),
            "b": _records([float(x) for x in _split(10)], _split(10)),
        },
    )
    result = CliRunner().invoke(app, ["eval", "report", "--no-thumbnails", str(folder)])
    assert result.exit_code == 0, result.output
    assert " ".join(result.output.split()).startswith("Verdict: a retrieves best (hit@5 0.750")


def test_one_pipeline_is_not_called_the_best(tmp_path: Path) -> None:
    md, _ = _report(tmp_path, {"solo": _records([float(x) for x in _split(20)], _split(10))})
    assert (
        "**Verdict:** one pipeline, solo, nothing to compare: hit@5 0.500, answer check 0.250."
        in md
    )
    assert "best" not in md.split("\n## ")[1].splitlines()[2]


def test_thumbnails_of_a_deleted_store_leave_it_deleted(tmp_path: Path) -> None:
    from mmrag.evaluate.report.content import _image_loader

    gone = tmp_path / "deleted-store"
    gone.mkdir()  # the folder is there again, empty: no store in it
    assert _image_loader(str(gone))("some-image") is None
    assert list(gone.iterdir()) == []  # no empty tables written into it
