"""Fitting the relevancy score and tau (`mmrag tune`), and the evaluation dataset format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmrag import RAG
from mmrag.cli import app
from mmrag.errors import ConfigError
from mmrag.evaluate.dataset import Evidence, Example, load_dataset, load_jsonl, save_jsonl
from mmrag.models.relevance.features import FEATURES
from mmrag.retrieve.tuning import collect, fit_calibration, tune
from tests.conftest import SHARED_DATA, fast_pipeline, make_pdf

ANIMALS = ["otter", "badger", "heron", "lynx", "marten", "stoat", "vole", "shrew", "wren", "kite"]


@pytest.fixture
def labelled(tmp_path: Path) -> tuple[RAG, list[Example], Path]:
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline())
    for d in range(3):
        pages = [
            f"Report {d}. The {ANIMALS[(d + p) % 10]} lives near the river {p}." for p in range(6)
        ]
        make_pdf(tmp_path / f"r{d}.pdf", pages)
    rag.ingest([tmp_path])
    examples = [
        Example(
            id=f"q{d}{p}",
            question=f"Where does the {ANIMALS[(d + p) % 10]} live in report {d}?",
            evidence=[Evidence(source=f"r{d}.pdf", pages=(p + 1,))],
        )
        for d in range(3)
        for p in range(6)
    ]
    return rag, examples, tmp_path


def test_collect_labels_the_gold_pages(labelled: tuple[RAG, list[Example], Path]) -> None:
    rag, examples, _ = labelled
    queries = collect(rag.retriever, examples[:4])
    assert len(queries) == 8  # document and corpus scope
    assert all(q.labels.sum() >= 1 for q in queries)
    assert all(q.features.shape == (len(q.items), len(FEATURES)) for q in queries)


def test_tune_fits_weights_and_tau(labelled: tuple[RAG, list[Example], Path]) -> None:
    rag, examples, _ = labelled
    result = tune(rag.retriever, examples)
    assert result.config.retrieval.scorer is not None
    assert result.config.retrieval.scorer.type == "calibrated"
    assert result.config.retrieval.adaptive.tau == result.threshold.tau
    assert 0 < result.threshold.tau < 1
    assert result.threshold.hit_rate >= 0.95 * result.threshold.fixed_k_hit_rate
    assert result.threshold.mean_items <= result.threshold.fixed_k_mean_items


def test_fit_needs_both_classes() -> None:
    with pytest.raises(ConfigError):
        fit_calibration([])


def test_tune_cli_writes_a_pipeline(labelled: tuple[RAG, list[Example], Path]) -> None:
    rag, examples, root = labelled
    dataset = save_jsonl(examples, root / "qa.jsonl")
    out = root / "tuned.yaml"
    result = CliRunner().invoke(
        app,
        ["tune", "--dataset", str(dataset), "--store", rag.store.uri, "--out", str(out), "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert set(report["weights"]) and 0 < report["tau"] < 1
    tuned = RAG.open(rag.store.uri, pipeline=str(out))
    assert tuned.config.retrieval.adaptive.tau == report["tau"]


def test_jsonl_round_trip_and_errors(tmp_path: Path) -> None:
    examples = [
        Example(
            id="1",
            question="Q?",
            answer="A",
            evidence=[Evidence(source="x.pdf", pages=(2,))],
            tags=["Table"],
        )
    ]
    path = save_jsonl(examples, tmp_path / "d.jsonl")
    assert load_jsonl(path) == examples
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "question": "q"}\n{"id": 2, "qestion": "typo"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"bad\.jsonl:2"):
        load_jsonl(bad)


@pytest.mark.skipif(
    not (SHARED_DATA / "mmlongbench_doc").is_dir(), reason="needs ../shared/data/mmlongbench_doc"
)
def test_mmlongbench_converts() -> None:
    examples = load_dataset(SHARED_DATA / "mmlongbench_doc" / "samples.json")
    assert len(examples) == 345
    answerable = [e for e in examples if e.answerable]
    assert len(answerable) == 273
    assert sum(1 for e in answerable if e.evidence[0].pages) == 271
    first = examples[0]
    assert first.evidence[0].source.endswith(".pdf") and first.evidence[0].pages == (5,)
    assert first.tags == ["Chart"]
