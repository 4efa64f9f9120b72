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
from mmrag.retrieve.tuning import FIT_TARGETS, collect, fit_calibration, tune
from mmrag.retrieve.validation import (
    RANKING_ONLY,
    Fitting,
    choose_fit_target,
    cross_validate,
    document_of,
    grouped_folds,
    question_of,
)
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


def test_grouped_folds_never_split_a_document(
    labelled: tuple[RAG, list[Example], Path],
) -> None:
    rag, examples, _ = labelled
    queries = collect(rag.retriever, examples)
    for seed in range(4):
        folds = grouped_folds(queries, 2, seed)
        assert sorted(i for fold in folds for i in fold) == list(range(len(queries)))
        documents = [{document_of(queries[i]) for i in fold} for fold in folds]
        assert not documents[0] & documents[1]
        assert all(fold for fold in folds)
    # Split by question instead, a document's questions land on both sides.
    by_question = grouped_folds(queries, 2, 0, group=question_of)
    documents = [{document_of(queries[i]) for i in fold} for fold in by_question]
    assert documents[0] & documents[1]


def test_cross_validation_reports_means_and_spread(
    labelled: tuple[RAG, list[Example], Path],
) -> None:
    rag, examples, _ = labelled
    queries = collect(rag.retriever, examples)
    settings = rag.config.retrieval
    results = cross_validate(queries, settings, Fitting(fit_targets=(0.95, 0.99)), repeats=3)
    assert set(results) == {0.95, 0.99} and set(results[0.95]) == {"document", "corpus"}
    figures = results[0.95]["document"]
    assert figures["repeats"] == 3
    assert 0.0 <= figures["hit@1"] <= figures["hit@5"] <= figures["hit@10"] <= 1.0
    assert figures["hit@5_sd"] >= 0.0 and 0.0 < figures["items_ratio"] <= 1.0
    # Fitting tau for a higher in-sample target never keeps fewer items.
    assert results[0.99]["corpus"]["items_ratio"] >= results[0.95]["corpus"]["items_ratio"]
    # Without a fit target only the ranking is measured, and it is the same ranking.
    ranking = cross_validate(queries, settings, Fitting(fit_targets=()), repeats=3)
    assert set(ranking) == {RANKING_ONLY} and "hit_kept" not in ranking[RANKING_ONLY]["corpus"]
    assert ranking[RANKING_ONLY]["corpus"]["mrr"] == results[0.95]["corpus"]["mrr"]
    # One document cannot be split into two folds of documents.
    one = [q for q in queries if document_of(q) == "r0.pdf"]
    assert cross_validate(one, settings) == {}


def test_the_fit_target_is_the_smallest_that_holds_on_unseen_documents() -> None:
    results = {
        0.95: {"document": {"hit_kept": 0.93}, "corpus": {"hit_kept": 0.96}},
        0.97: {"document": {"hit_kept": 0.951}, "corpus": {"hit_kept": 0.97}},
        0.99: {"document": {"hit_kept": 0.99}, "corpus": {"hit_kept": 0.99}},
    }
    assert choose_fit_target(results, 0.95) == 0.97
    assert choose_fit_target(results, 0.999) == 0.99  # none holds: the largest


def test_tune_reports_grouped_cross_validation(
    labelled: tuple[RAG, list[Example], Path],
) -> None:
    rag, examples, _ = labelled
    result = tune(rag.retriever, examples, cv_repeats=2)
    assert set(result.validation) == {"document", "corpus"}
    assert result.fit_target in FIT_TARGETS
    assert result.threshold.hit_rate >= result.fit_target * result.threshold.fixed_k_hit_rate
    skipped = tune(rag.retriever, examples, cv_repeats=0, fit_target=0.97)
    assert skipped.validation == {} and skipped.fit_target == 0.97


def test_leaving_a_feature_out_gives_it_no_weight(
    labelled: tuple[RAG, list[Example], Path],
) -> None:
    rag, examples, _ = labelled
    queries = collect(rag.retriever, examples)
    kept = tuple(f for f in FEATURES if f != "doc_prior")
    calibration = fit_calibration(queries, features=kept)
    assert "doc_prior" not in calibration.weights and set(calibration.weights) == set(kept)


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
    assert set(report["grouped_cv"]) == {"document", "corpus"}
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
