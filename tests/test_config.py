"""Pipeline config: validation errors that name the setting, named pipelines, store checks."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmrag import RAG
from mmrag.config import PipelineConfig, available_pipelines, load_pipeline
from mmrag.errors import ConfigError, StoreError
from tests.conftest import fast_pipeline


def test_named_pipelines_load() -> None:
    assert {"default", "text-only"} <= set(available_pipelines())
    default = load_pipeline("default")
    assert default.text_embedder.type == "sentence-transformers"
    assert load_pipeline("text-only").ocr is None


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [
        ("retrieval: {k: 5, topk: 3}\n", "retrieval.topk"),
        ("text_embedder: {type: nope}\n", "unknown text_embedders type 'nope'"),
        ("text_embedder: {type: hashing, dims: 3}\n", "dims"),
        ("ocr: {type: rapidocr, engine: cuda}\n", "engine"),
        ("chunking: {overlap_tokens: -1}\n", "chunking.overlap_tokens"),
        ("retrieval: [1, 2\n", "not valid YAML"),
        ("- just a list\n", "mapping of settings"),
    ],
)
def test_bad_pipeline_files_name_the_problem(tmp_path: Path, yaml_text: str, message: str) -> None:
    path = tmp_path / "p.yaml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_pipeline(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)


def test_unknown_pipeline_name_lists_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"known: .*default"):
        load_pipeline("no-such-pipeline")


def test_missing_pipeline_file() -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_pipeline("missing/pipeline.yaml")


def test_fingerprint_ignores_retrieval_but_not_ingest_settings() -> None:
    base = fast_pipeline()
    assert base.ingest_fingerprint() == fast_pipeline(retrieval={"k": 9}).ingest_fingerprint()
    assert (
        base.ingest_fingerprint() == fast_pipeline(ingest={"commit_every": 3}).ingest_fingerprint()
    )
    assert (
        base.ingest_fingerprint() != fast_pipeline(ingest={"render_dpi": 100}).ingest_fingerprint()
    )


def test_config_round_trips_through_json() -> None:
    config = load_pipeline("default")
    again = PipelineConfig.from_dict(config.model_dump(mode="json"))
    assert again == config


def test_store_keeps_its_pipeline(tmp_path: Path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("Hedgehogs roll into a ball.", encoding="utf-8")
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline())
    rag.ingest([doc])
    reopened = RAG.open(tmp_path / "store")
    assert reopened.config.text_embedder == rag.config.text_embedder
    assert reopened.search("hedgehogs")[0].node.text.startswith("Hedgehogs")


def test_store_refuses_a_different_embedder(tmp_path: Path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("Hedgehogs roll into a ball.", encoding="utf-8")
    RAG.open(tmp_path / "store", pipeline=fast_pipeline()).ingest([doc])
    other = fast_pipeline(text_embedder={"type": "hashing", "dim": 32, "max_tokens": 64})
    with pytest.raises(StoreError, match="cannot be mixed"):
        RAG.open(tmp_path / "store", pipeline=other)


def test_a_store_opens_whatever_embeds_its_queries(tmp_path: Path) -> None:
    # query_runtime changes how a query is computed, not the vectors the store holds; a
    # store written before the setting existed has none in its stored pipeline.
    doc = tmp_path / "a.txt"
    doc.write_text("Hedgehogs roll into a ball.", encoding="utf-8")
    embedder = {"type": "sentence-transformers", "model": "all-MiniLM-L6-v2"}
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline(text_embedder=embedder))
    rag.ingest([doc])
    stored = rag.store.meta()["pipeline"]
    del stored["text_embedder"]["query_runtime"]
    rag.store.set_meta({"pipeline": stored})
    for runtime in ("torch", "onnx", "auto"):
        settings = {**embedder, "query_runtime": runtime}
        reopened = RAG.open(tmp_path / "store", pipeline=fast_pipeline(text_embedder=settings))
        assert reopened.config.text_embedder.query_runtime == runtime  # type: ignore[union-attr]


def test_chunk_size_beyond_embedder_window_is_refused(tmp_path: Path) -> None:
    rag = RAG.open(tmp_path / "s", pipeline=fast_pipeline(chunking={"chunk_tokens": 500}))
    doc = tmp_path / "a.txt"
    doc.write_text("text", encoding="utf-8")
    with pytest.raises(ConfigError, match="larger than the window"):
        rag.ingest([doc])


def test_adaptive_k_from_an_older_tuned_file_keeps_its_threshold_rule() -> None:
    from mmrag.config import AdaptiveKConfig

    assert AdaptiveKConfig().rule == "marginal"
    assert AdaptiveKConfig.model_validate({"tau": 0.07, "relative": 0.4}).rule == "threshold"
    explicit = AdaptiveKConfig.model_validate({"rule": "marginal", "tau": 0.03, "relative": 0.0})
    assert explicit.rule == "marginal"
