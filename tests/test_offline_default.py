"""The real offline default pipeline (MiniLM, RapidOCR, EfficientNet-lite0) end to end.

Runs on the generated demo corpus, so it needs no shared data; the models load once per
module (~10 s) and the ingest takes ~20 s on two cores.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mmrag import RAG, NodeKind
from mmrag.config import PipelineConfig
from mmrag.demo import build_demo_corpus

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="module")
def demo_rag(tmp_path_factory: pytest.TempPathFactory, default_pipeline: PipelineConfig) -> RAG:
    root = tmp_path_factory.mktemp("offline")
    docs = build_demo_corpus(root / "docs")
    rag = RAG.open(root / "store", pipeline=default_pipeline)
    report = rag.ingest([docs])
    assert report.ok, report.failed
    return rag


def _top_source(rag: RAG, query: str, k: int = 3) -> list[str]:
    return [Path(h.node.source).name for h in rag.search(query, k=k)]


def test_scanned_page_is_searchable_through_ocr(demo_rag: RAG) -> None:
    hits = demo_rag.search("How many metres has the Kaldfonna glacier retreated?", k=3)
    assert Path(hits[0].node.source).name == "field_notes_scan.pdf"
    assert "38 metres" in hits[0].node.text
    assert hits[0].node.metadata.get("ocr") is True


def test_chart_text_is_searchable_through_its_summary(demo_rag: RAG) -> None:
    hits = demo_rag.search("Quarterly revenue 2025 all regions combined chart", k=5)
    summaries = [h for h in hits if h.node.kind == NodeKind.IMAGE_SUMMARY]
    assert summaries, [h.node.kind for h in hits]
    assert "44.6" in summaries[0].node.text
    assert summaries[0].node.page == 3


def test_table_text_keeps_its_page(demo_rag: RAG) -> None:
    hit = demo_rag.search("revenue Nordics region Q3", k=1)[0]
    assert (Path(hit.node.source).name, hit.node.page) == ("annual_report.pdf", 2)


def test_markdown_and_html_text(demo_rag: RAG) -> None:
    assert "guide.md" in _top_source(demo_rag, "hold reset for 12 seconds factory settings")
    assert "press_release.html" in _top_source(demo_rag, "Aurora Mini weighs 180 grams")


def test_image_query_finds_the_same_photo(demo_rag: RAG) -> None:
    photo = next(
        p for p in Path(demo_rag.store.sources(user=None)[0]).parent.rglob("sunset_beach.jpg")
    )
    hits = demo_rag.search(image=photo, k=1)
    assert hits[0].node.kind == NodeKind.IMAGE
    assert Path(hits[0].node.source).name == "sunset_beach.jpg"
    assert hits[0].scores["image_vector"]["score"] > 0.99


def test_stored_image_comes_back(demo_rag: RAG) -> None:
    hit = demo_rag.search(image=_any_photo(demo_rag), k=1)[0]
    assert hit.node.image_id is not None
    image = demo_rag.image(hit.node.image_id)
    assert image is not None and min(image.size) >= 100
    assert demo_rag.image(hit.node.image_id, user="someone") is not None  # shared corpus
    assert demo_rag.image("0" * 32) is None


def test_reingest_is_a_no_op(demo_rag: RAG) -> None:
    docs = Path(demo_rag.store.sources(user=None)[0]).parent
    report = demo_rag.ingest([docs])
    assert report.ingested == 0 and report.unchanged == report.files_seen


def test_chunks_fit_the_embedder_window(demo_rag: RAG) -> None:
    embedder = demo_rag.components.text_embedder
    for hit in demo_rag.search("Northwind Labs", k=20):
        if hit.node.kind == NodeKind.TEXT:
            assert len(embedder.tokenize(hit.node.text)) <= embedder.max_tokens


def test_openvino_telemetry_is_declined() -> None:
    """mmrag runs offline and privately: importing OpenVINO must not phone home."""
    pytest.importorskip("openvino")
    if "openvino" not in sys.modules:
        pytest.skip("OCR ran on onnxruntime in this session")
    telemetry = pytest.importorskip("openvino_telemetry.main")
    assert telemetry.Telemetry().consent is False


@pytest.mark.skipif(not (SHARED / "flickr8k").is_dir(), reason="needs ../shared/data/flickr8k")
def test_efficientnet_tags_a_real_dog_photo(demo_rag: RAG) -> None:
    from PIL import Image

    tagger = demo_rag.components.image_embedder
    photo = Image.open(SHARED / "flickr8k" / "images" / "1001773457_577c3a7d70.jpg")
    tags = tagger.tag_images([photo], top_k=3)[0]  # type: ignore[union-attr]
    dogs = {"Treeing Walker Coonhound", "German Shorthaired Pointer", "English foxhound", "Beagle"}
    assert tags[0][0] in dogs, tags


def _any_photo(rag: RAG) -> Path:
    docs = Path(rag.store.sources(user=None)[0]).parent
    return next(docs.rglob("*.jpg"))


def test_ask_answers_from_the_scanned_page_with_a_citation(demo_rag: RAG) -> None:
    from mmrag.demo import DEMO_QUESTION

    answer = demo_rag.ask(DEMO_QUESTION)
    assert answer.answerable
    assert "38" in answer.text
    assert answer.citations and Path(answer.citations[0].node.source).name == "field_notes_scan.pdf"
    # The default quotes: whole sentences (the scan wraps this one over three lines).
    assert answer.extractive and answer.completion_tokens == 0
    assert "we measured that the ice front has retreated 38 metres since August 2024." in (
        answer.text
    )


def test_smollm_pipeline_generates_over_the_same_store(demo_rag: RAG) -> None:
    from mmrag.demo import DEMO_QUESTION

    smollm = RAG.open(demo_rag.store.uri, pipeline="smollm", create=False)
    answer = smollm.ask(DEMO_QUESTION)
    assert not answer.extractive and answer.completion_tokens > 0
    assert answer.answerable and "38" in answer.text
    assert answer.timings["total"] >= answer.timings["generate"]


def test_ask_refuses_what_the_documents_do_not_say(demo_rag: RAG) -> None:
    answer = demo_rag.ask("Who won the football world cup in 1966?")
    assert not answer.answerable
    assert answer.citations == []
    assert answer.text == demo_rag.config.generation.templates.refusal


def test_ask_stream_matches_ask(demo_rag: RAG) -> None:
    question = "Who is the CEO of Northwind Labs?"
    *deltas, final = list(demo_rag.ask_stream(question))
    assert "Solberg-Amari" in final.text  # type: ignore[union-attr]
    assert "".join(deltas).strip()  # type: ignore[arg-type]


def test_ask_with_a_query_image(demo_rag: RAG) -> None:
    photo = _any_photo(demo_rag)
    answer = demo_rag.ask("What does this picture show?", image=photo)
    hits = demo_rag.search(image=photo, k=1)
    # The photo itself is in the context the model saw (image-vector retrieval worked).
    assert hits[0].node.image_id in {c.node.image_id for c in answer.context}
