"""mmrag inside LlamaIndex: the retriever in a real RetrieverQueryEngine with MockLLM, and
the relevancy postprocessor over a VectorStoreIndex with MockEmbedding (the reader's tests
are in test_llama_index_reader.py)."""

from __future__ import annotations

import asyncio
import base64
import importlib
import io
import sys
from pathlib import Path

import pytest
from conftest import fast_pipeline, make_pdf, text_image
from PIL import Image

from mmrag import RAG
from mmrag.errors import ConfigError

pytest.importorskip("llama_index.core")

from llama_index.core import VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.query_engine import RetrieverQueryEngine
from llama_index.core.schema import (
    ImageNode,
    NodeWithScore,
    QueryBundle,
    TextNode,
)

from mmrag.llama_index import (
    MmragRetriever,
    RelevancyPostprocessor,
)

LONG = "This page carries plenty of native text, so the loader never treats it as a scan."


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> RAG:
    """A small generated store: a PDF, a Markdown page with a picture, and alice's notes."""
    root = tmp_path_factory.mktemp("li")
    docs = root / "docs"
    (docs / "img").mkdir(parents=True)
    make_pdf(
        docs / "report.pdf",
        [
            f"Zebrafish migrate through the northern delta in spring. {LONG}",
            f"The lighthouse repair budget was 4,200 crowns. {LONG}",
        ],
    )
    text_image("HARBOUR MAP").save(docs / "img" / "harbour.png")
    (docs / "guide.md").write_text(
        "# Guide\n\nThe quokka lives on Rottnest Island.\n\n"
        "![harbour map of the old pier](img/harbour.png)\n",
        encoding="utf-8",
    )
    private = root / "alice"
    private.mkdir()
    (private / "diary.txt").write_text("Alice keeps her spare kayak paddle in the boathouse.")
    rag = RAG.open(root / "store", pipeline=fast_pipeline(image_embedder="efficientnet-lite0"))
    assert not rag.ingest([docs]).failed
    assert not rag.ingest([private], user="alice").failed
    return rag


# -- retriever ---------------------------------------------------------------------------


def test_retriever_returns_mmrag_results_with_citation_metadata(store: RAG) -> None:
    query = "lighthouse repair budget"
    expected = store.search(query)
    got = MmragRetriever(store).retrieve(query)
    assert [n.node.node_id for n in got] == [s.node.id for s in expected]
    assert [n.score for n in got] == pytest.approx([s.score for s in expected])
    top = got[0]
    assert isinstance(top.node, TextNode)
    assert top.node.metadata["file_name"] == "report.pdf"
    assert top.node.metadata["page"] == 2
    assert top.node.metadata["kind"] == "text"
    assert 0.0 <= (top.score or 0.0) <= 1.0


def test_images_come_back_as_image_nodes_with_their_pixels(store: RAG) -> None:
    got = MmragRetriever(store, k=3).retrieve("harbour map of the old pier")
    images = [n.node for n in got if isinstance(n.node, ImageNode)]
    assert images, [n.node.metadata for n in got]
    image = images[0]
    assert image.metadata["file_name"] == "guide.md"
    assert image.metadata["kind"] in {"image", "image_summary"}
    assert image.image_mimetype == "image/png"
    assert image.image is not None
    decoded = Image.open(io.BytesIO(base64.b64decode(image.image)))
    assert decoded.size == (640, 200)
    # Without image bytes the node still says which image it is.
    light = MmragRetriever(store, k=3, include_images=False).retrieve("harbour map of the old pier")
    bare = next(n.node for n in light if isinstance(n.node, ImageNode))
    assert bare.image is None
    assert bare.metadata["image_id"] == image.metadata["image_id"]


def test_retriever_keeps_to_its_user(store: RAG) -> None:
    query = "spare kayak paddle boathouse"

    def files(user: str | None) -> set[str]:
        return {
            n.node.metadata["file_name"]
            for n in MmragRetriever(store, user=user, k=10).retrieve(query)
        }

    assert "diary.txt" in files("alice")
    assert "diary.txt" not in files("bob")
    assert "diary.txt" not in files(None)


def test_query_image_searches_by_image(store: RAG, tmp_path: Path) -> None:
    query = tmp_path / "query.png"
    text_image("HARBOUR MAP").save(query)
    got = MmragRetriever(store, k=1).retrieve(QueryBundle("", image_path=str(query)))
    assert got[0].node.metadata["file_name"] == "guide.md"
    assert isinstance(got[0].node, ImageNode)


def test_retriever_in_a_real_query_engine(store: RAG) -> None:
    retriever = MmragRetriever(store, user="alice")
    engine = RetrieverQueryEngine.from_args(retriever, llm=MockLLM())
    response = engine.query("Where is the spare kayak paddle?")
    assert response.source_nodes[0].node.metadata["file_name"] == "diary.txt"
    # MockLLM echoes its prompt: the context reached the LLM with where it comes from,
    # without mmrag's internal ids.
    prompt = str(response)
    assert "Alice keeps her spare kayak paddle in the boathouse." in prompt
    assert "source: " in prompt
    assert "mmrag_id" not in prompt
    asynchronous = asyncio.run(engine.aquery("Where is the spare kayak paddle?"))
    assert [n.node.node_id for n in asynchronous.source_nodes] == [
        n.node.node_id for n in response.source_nodes
    ]


# -- postprocessor -----------------------------------------------------------------------

PASSAGES = [
    "Ferries leave the north quay every hour in summer.",
    "The museum cafe serves cinnamon buns.",
    "Tickets for the island tour are sold at the kiosk.",
    "Seals rest on the rocks south of the harbour.",
    "The library opens at nine on weekdays.",
    "The lighthouse repair budget for 2025 was 4,200 crowns.",
]


def vector_index() -> VectorStoreIndex:
    """MockEmbedding gives every passage the same vector: the retriever cannot tell them
    apart, so any order the postprocessor produces is its own."""
    nodes = [TextNode(text=t, id_=f"n{i}") for i, t in enumerate(PASSAGES)]
    return VectorStoreIndex(nodes, embed_model=MockEmbedding(embed_dim=8))


def test_postprocessor_ranks_any_retrievers_nodes_by_relevancy() -> None:
    query = "What was the lighthouse repair budget in 2025?"
    retriever = vector_index().as_retriever(similarity_top_k=len(PASSAGES))
    fetched = retriever.retrieve(query)
    assert len({n.score for n in fetched}) == 1  # all alike to the retriever
    post = RelevancyPostprocessor(fast_pipeline())
    kept = post.postprocess_nodes(fetched, query_str=query)
    assert kept[0].node.node_id == "n5"
    scores = [n.score or 0.0 for n in kept]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)
    # Adaptive k: a clear winner leaves out the passages that share no term with the question.
    assert len(kept) < len(PASSAGES)


def test_postprocessor_in_a_query_engine_with_fixed_k() -> None:
    engine = vector_index().as_query_engine(
        llm=MockLLM(),
        similarity_top_k=len(PASSAGES),
        node_postprocessors=[RelevancyPostprocessor(fast_pipeline(), k=2)],
    )
    response = engine.query("When do ferries leave the north quay?")
    assert response.source_nodes[0].node.node_id == "n0"
    assert len(response.source_nodes) == 2


def test_postprocessor_reads_pages_from_llama_index_metadata() -> None:
    """LlamaIndex's PDF readers write ``page_label``; a question naming a page prefers it."""
    nodes = [
        NodeWithScore(
            node=TextNode(text="Quarterly figures.", id_=f"p{p}", metadata={"page_label": str(p)}),
            score=0.5,
        )
        for p in (1, 2, 3, 4)
    ]
    kept = RelevancyPostprocessor(fast_pipeline(), k=4).postprocess_nodes(
        nodes, query_str="What are the figures on page 3?"
    )
    assert kept[0].node.node_id == "p3"


def test_postprocessor_takes_bm25_like_scores() -> None:
    nodes = [
        NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=float(10 - i))
        for i, t in enumerate(PASSAGES)
    ]
    post = RelevancyPostprocessor(fast_pipeline(), k=3)
    assert post._signal(nodes) == "full_text"
    kept = post.postprocess_nodes(nodes, query_str="lighthouse repair budget 2025")
    assert kept[0].node.node_id == "n5"
    assert len(kept) == 3


def test_postprocessor_scores_only_the_pipelines_score_top() -> None:
    """Slow scorers (cross-encoders, MLLM judges) see only the retriever's best few."""
    nodes = [
        NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=0.9 - i / 10)
        for i, t in enumerate(PASSAGES)
    ]
    post = RelevancyPostprocessor(fast_pipeline(retrieval={"score_top": 2}), k=5)
    kept = post.postprocess_nodes(nodes, query_str="lighthouse repair budget 2025")
    assert sorted(n.node.node_id for n in kept) == ["n0", "n1"]


def test_postprocessor_needs_the_question() -> None:
    nodes = [NodeWithScore(node=TextNode(text="x", id_="a"), score=0.3)]
    with pytest.raises(ConfigError, match="query_str"):
        RelevancyPostprocessor(fast_pipeline()).postprocess_nodes(nodes)


def test_postprocessor_refuses_a_pipeline_without_scorer() -> None:
    pipeline = fast_pipeline(retrieval={"scorer": None})
    with pytest.raises(ConfigError, match=r"no retrieval\.scorer"):
        RelevancyPostprocessor(pipeline)


def test_postprocessor_uses_a_rags_pipeline(store: RAG) -> None:
    post = RelevancyPostprocessor(store, k=1)
    nodes = [
        NodeWithScore(node=TextNode(text=t, id_=f"n{i}"), score=0.4) for i, t in enumerate(PASSAGES)
    ]
    assert post.postprocess_nodes(nodes, query_str="seals on the rocks")[0].node.node_id == "n3"


# -- without llama-index -----------------------------------------------------------------


def test_missing_llama_index_gives_the_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m.startswith("mmrag.llama_index")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "llama_index.core", None)  # makes its import fail
    with pytest.raises(ImportError) as info:
        importlib.import_module("mmrag.llama_index")
    assert "llama-index-core" in str(info.value)
    assert "[llama-index]" in str(info.value)
