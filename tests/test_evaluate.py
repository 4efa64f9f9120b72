"""The evaluation harness: metrics, answer checks, judge parsing, runs, resume, reports."""

from __future__ import annotations

import json
import math
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from mmrag.evaluate.answer_check import check_answer
from mmrag.evaluate.dataset import Evidence, Example, save_jsonl
from mmrag.evaluate.datasets import DatasetSpec, resolve
from mmrag.evaluate.judge import JudgeCache, parse_grade
from mmrag.evaluate.metrics import bootstrap_ci, retrieval_metrics
from mmrag.evaluate.report import build_report
from mmrag.evaluate.runner import EvalSettings, run_eval
from mmrag.evaluate.summary import summarize
from mmrag.generate.choices import ChoiceMethod
from tests.conftest import fast_pipeline, make_pdf

# -- metrics --------------------------------------------------------------------------


def test_retrieval_metrics_by_hand() -> None:
    m = retrieval_metrics(["x", "a", "x", "b", "c"], {"a", "c"}, ks=(1, 3))
    assert m["hit@1"] == 0.0 and m["hit@3"] == 1.0
    assert m["recall@3"] == 0.5  # "x" counted once: ranking is x, a, b, c
    assert m["mrr"] == 0.5
    # DCG@3 = 1/log2(3); ideal = 1 + 1/log2(3)
    assert m["ndcg@3"] == pytest.approx((1 / math.log2(3)) / (1 + 1 / math.log2(3)))
    assert retrieval_metrics([], {"a"})["mrr"] == 0.0


def test_bootstrap_interval_brackets_the_mean() -> None:
    values = [1.0] * 30 + [0.0] * 70
    low, high = bootstrap_ci(values)
    assert low < 0.3 < high and high - low < 0.25
    assert bootstrap_ci([1.0, 1.0]) == (1.0, 1.0)


@pytest.mark.parametrize(
    ("answer", "answerable", "gold", "fmt", "expected"),
    [
        ("Less well-off [1].", True, "Less well-off", "Str", True),
        ("The share was 72.3%.", True, "72.3%", "Float", True),
        ("It rose to 0.723", True, "72.3%", "Float", True),
        ("About 14 thousand", True, "15,000", "Int", False),
        ("Both Corgi and Shiba Inu", True, "['Corgi', 'Shiba Inu']", "List", True),
        ("Only Corgi", True, "['Corgi', 'Shiba Inu']", "List", False),
        ("The documents do not contain the answer.", False, "Not answerable", "None", True),
        ("It is 12.", True, "Not answerable", "None", False),
        ("anything", True, None, None, None),
    ],
)
def test_answer_check(
    answer: str, answerable: bool, gold: str | None, fmt: str | None, expected: bool | None
) -> None:
    assert check_answer(answer, answerable=answerable, gold=gold, answer_format=fmt) is expected


# -- judge replies --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "passed", "status"),
    [
        ('{"grade": 1, "reason": "matches"}', True, "ok"),
        ('Sure! ```json\n{"grade": 0, "reason": "wrong year"}\n```', False, "ok"),
        ("{'grade': 'yes', 'reason': 'ok'}", True, "ok"),
        ('{"grade": true}', True, "ok"),
        ("Grade: 0", False, "ok"),
        ("The answer is: 1", True, "ok"),
        ("The answer is incorrect. It says 1998.", False, "lenient"),
        ("The TEXT CONTEXT is relevant to the question.", True, "lenient"),
        ("", None, "invalid"),
        ("I like turtles.", None, "invalid"),
        ('{"grade": 7}', None, "invalid"),
        ("{not json at all", None, "invalid"),
        ('{"grade": 1, "reason": "one short sentence"}', None, "invalid"),
    ],
)
def test_judge_replies_are_parsed_or_marked_invalid(
    reply: str, passed: bool | None, status: str
) -> None:
    grade = parse_grade(reply)
    assert (grade.passed, grade.status) == (passed, status)
    assert grade.raw == reply.strip()


def test_judge_cache(tmp_path: Path) -> None:
    cache = JudgeCache(tmp_path / "c.sqlite")
    assert cache.get("m", "p") is None
    cache.put("m", "p", "reply")
    assert JudgeCache(tmp_path / "c.sqlite").get("m", "p") == "reply"
    assert cache.get("other-model", "p") is None


# -- runs and reports -----------------------------------------------------------------


@pytest.fixture
def tiny_spec(tmp_path: Path) -> DatasetSpec:
    docs = tmp_path / "docs"
    docs.mkdir()
    make_pdf(
        docs / "zoo.pdf",
        ["The otter pool opens at nine.", "Penguins are fed at 14:30.", "The shop sells maps."],
    )
    Image.new("RGB", (200, 200), (200, 30, 30)).save(docs / "red_square.png")
    examples = [
        Example(
            id="q1",
            question="When does the otter pool open?",
            answer="nine",
            evidence=[Evidence(source="zoo.pdf", pages=(1,))],
            tags=["Pure-text"],
        ),
        Example(
            id="q2",
            question="When are penguins fed?",
            answer="14:30",
            evidence=[Evidence(source="zoo.pdf", pages=(2,))],
            tags=["Pure-text"],
        ),
        Example(
            id="q3",
            question="What does the shop sell?",
            answer="maps",
            evidence=[Evidence(source="zoo.pdf", pages=(3,))],
            tags=["Table"],
        ),
    ]
    dataset = save_jsonl(examples, tmp_path / "zoo.jsonl")
    return resolve(str(dataset), corpus=docs)


def test_run_resume_and_report(tiny_spec: DatasetSpec, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    pipelines = [
        fast_pipeline(name="fast-a"),
        fast_pipeline(name="fast-b", retrieval={"scorer": None, "k": 2}),
    ]
    settings = EvalSettings(limit=2)
    run_eval(tiny_spec, pipelines, out, settings)
    records = out / "runs" / "fast-a" / "records.jsonl"
    assert len(records.read_text().splitlines()) == 2
    # Both pipelines index the same way: one store.
    assert len(list((out / "stores").iterdir())) == 1
    # An interrupted write leaves half a line; the next run redoes that question only.
    text = records.read_text()
    records.write_text(text[: len(text) - 40])
    run_eval(tiny_spec, pipelines, out, EvalSettings(limit=3))
    rows = [
        json.loads(line) for line in records.read_text().splitlines() if line.strip().endswith("}")
    ]
    assert sorted(r["id"] for r in rows) == ["q1", "q2", "q3"]
    record = next(r for r in rows if r["id"] == "q1")
    assert record["retrieval"]["hit@1"] in (0.0, 1.0) and "answer" in record and "judge" in record
    assert record["judge"]["answer_correctness"]["status"] in ("ok", "lenient", "invalid")
    assert record["evidence"] == [{"source": "zoo.pdf", "pages": [1]}]
    # Each shown item says whether it is gold evidence, agreeing with hit@1.
    assert record["retrieved"][0]["gold"] == (record["retrieval"]["hit@1"] == 1.0)
    summary = json.loads((out / "runs" / "fast-b" / "summary.json").read_text())
    assert summary["questions"] == 3 and "hit@5" in summary["retrieval"]
    md, html = build_report(out)
    text = md.read_text()
    assert "| fast-a |" in text and "| fast-b |" in text
    assert text.split("\n## ")[1].splitlines()[2].startswith("**Verdict:**")
    # SmolLM2 as a judge may give no readable grade: then one line says so instead of a table.
    assert "agreement with the answer check" in text or "No valid judge ran" in text
    assert "## Trust: right, confidently wrong, refused" in text
    assert "gold evidence: zoo.pdf p.1" in text and "✓ gold" in text
    # Two pipelines that both find every page: one sentence instead of two identical curves.
    plotted = (out / "report-assets" / "hit_at_k.png").is_file()
    assert plotted != ("hit@k is not plotted: fast-a, fast-b have the same curve" in text)
    page = html.read_text()
    assert "<table>" in page and ("data:image/png;base64," in page) == plotted
    assert "src='http" not in page and 'src="http' not in page  # self-contained


def test_retrieval_only_report_shows_no_empty_answer_columns(
    tiny_spec: DatasetSpec, tmp_path: Path
) -> None:
    out = tmp_path / "eval"
    # With a summarizer the red square becomes a searchable item, so examples show it.
    pipeline = fast_pipeline(name="fast", summarizer={"type": "ocr-tags"})
    run_eval(tiny_spec, [pipeline], out, EvalSettings(generate=False))
    md, _ = build_report(out)
    header = next(line for line in md.read_text().splitlines() if line.startswith("| pipeline"))
    assert "hit@5" in header and "answer check" not in header and "refused" not in header
    first = md.read_text()
    # Regenerating gives the same files: no stale or renamed thumbnails.
    md, _ = build_report(out)
    assert md.read_text() == first
    assert list((out / "report-assets").glob("thumb-*"))  # the red square, retrieved
    build_report(out, thumbnails=False)
    assert not list((out / "report-assets").glob("thumb-*"))


def test_resuming_with_a_changed_pipeline_is_refused(
    tiny_spec: DatasetSpec, tmp_path: Path
) -> None:
    from mmrag.errors import ConfigError

    out = tmp_path / "eval"
    settings = EvalSettings(limit=1, generate=False)
    run_eval(tiny_spec, [fast_pipeline(name="fast")], out, settings)
    run_eval(tiny_spec, [fast_pipeline(name="fast")], out, settings)  # same config: resumes
    changed = fast_pipeline(name="fast", retrieval={"k": 2})
    with pytest.raises(ConfigError, match="'fast' has changed"):
        run_eval(tiny_spec, [changed], out, settings)


def test_a_separate_judge_that_is_down_is_recorded_not_fatal(
    tiny_spec: DatasetSpec, tmp_path: Path
) -> None:
    # Nothing listens on port 9 of loopback: every grade fails fast with a clear error.
    judge = {"type": "openai", "model": "judge", "base_url": "http://127.0.0.1:9/v1"}
    judge |= {"retries": 1, "timeout": 5}
    out = tmp_path / "eval"
    run_eval(tiny_spec, [fast_pipeline(name="fast")], out, EvalSettings(limit=1, judge=judge))
    record = json.loads((out / "runs" / "fast" / "records.jsonl").read_text().splitlines()[0])
    assert record["judge_model"].startswith("openai:")
    grade = record["judge"]["answer_correctness"]
    assert grade["status"] == "error" and grade["passed"] is None
    assert "127.0.0.1:9" in grade["reason"]
    md, _ = build_report(out)
    assert "Answers judged by openai:" in md.read_text()


def test_summary_counts_invalid_judge_replies_as_fails() -> None:
    base = {
        "answer": "x",
        "answerable": True,
        "context_items": 2,
        "context_relevant": 1,
        "check": True,
        "tags": [],
    }
    records = [
        base | {"judge": {"answer_correctness": {"passed": True, "status": "ok"}}},
        base | {"judge": {"answer_correctness": {"passed": None, "status": "invalid"}}},
    ]
    judge = summarize(records, "page")["judge"]["answer_correctness"]
    assert judge["mean"] == 0.5 and judge["invalid"] == 0.5 and judge["n"] == 2


def test_choices_report_position_bias() -> None:
    records = [
        {
            "picks": [{"letter": "A", "option": "x"}, {"letter": "A", "option": "y"}],
            "correct": False,
            "choice_method": "generate",
            "tags": ["gold:A"],
        },
        {
            "picks": [{"letter": "B", "option": "y"}, {"letter": "A", "option": "y"}],
            "correct": True,
            "choice_method": "generate",
            "tags": ["gold:B"],
        },
    ]
    choices = summarize(records, "concept")["choices"]
    assert choices["order_free_accuracy"]["mean"] == 0.5
    assert choices["position_bias"]["picked_first_option_rate"] == 0.5


@pytest.mark.skipif(
    shutil.which("chromium") is None, reason="needs Debian's chromium (apt-get install chromium)"
)
def test_html_report_renders_in_a_real_browser(tiny_spec: DatasetSpec, tmp_path: Path) -> None:
    out = tmp_path / "eval"
    run_eval(tiny_spec, [fast_pipeline(name="fast")], out, EvalSettings(limit=2, use_judge=False))
    _, html = build_report(out)
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1200,1600",
            f"--screenshot={shot}",
            html.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    image = Image.open(shot).convert("L")
    extrema = image.getextrema()
    assert image.size == (1200, 1600) and extrema[0] < 100 < extrema[1]  # text on a white page


def test_multiple_choice_with_memories(tmp_path: Path) -> None:
    folder = tmp_path / "rap"
    folder.mkdir()
    Image.new("RGB", (200, 200), (180, 100, 40)).save(folder / "bo.png")
    database = {
        "concept_dict": {
            "<bo>": {
                "name": "bo",
                "image": "bo.png",
                "info": "<bo> is a Shiba Inu dog with a black collar.",
                "category": "dog",
            }
        }
    }
    (folder / "database.json").write_text(json.dumps(database), encoding="utf-8")
    examples = [
        Example(
            id="m1",
            question="What is <bo>'s breed?",
            answer="Shiba Inu",
            user="tester",
            concepts=["bo"],
            options=["Corgi", "Shiba Inu"],
            tags=["gold:B"],
        ),
        Example(
            id="m2",
            question="What colour is <bo>'s collar?",
            answer="black",
            user="tester",
            concepts=["bo"],
            options=["black", "pink"],
            tags=["gold:A"],
        ),
    ]
    spec = DatasetSpec("mc", examples, memories=folder / "database.json", level="concept")
    out = tmp_path / "eval"
    minilm = fast_pipeline(name="fast", text_embedder={"type": "sentence-transformers"})
    run_eval(spec, [minilm], out, EvalSettings(choice_method=ChoiceMethod.SIMILARITY))
    rows = [
        json.loads(line)
        for line in (out / "runs" / "fast" / "records.jsonl").read_text().splitlines()
    ]
    assert all(r["memories"] == ["<bo>"] and r["retrieval"]["hit@1"] == 1.0 for r in rows)
    assert all(r["correct"] for r in rows)  # the memory's words decide
    summary = json.loads((out / "runs" / "fast" / "summary.json").read_text())
    assert summary["choices"]["order_free_accuracy"]["mean"] == 1.0
    md, _ = build_report(out)
    assert "Multiple choice (order-free)" in md.read_text()


def test_judge_with_takes_another_pipelines_generator(tmp_path: Path) -> None:
    from mmrag.cli.evaluation import _judge_model
    from mmrag.errors import ConfigError

    assert _judge_model("openai")["type"] == "openai"
    no_generator = tmp_path / "retrieval-only.yaml"
    no_generator.write_text("generator: null\n")
    with pytest.raises(ConfigError, match="no generator"):
        _judge_model(str(no_generator))
