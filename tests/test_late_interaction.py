"""Late interaction: token vectors stored at ingest, their MaxSim in the relevancy score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmrag import RAG
from mmrag.components import Components
from mmrag.errors import ConfigError, StoreError
from mmrag.models.relevance.features import FEATURES, feature_matrix
from mmrag.models.relevance.late_interaction import maxsim
from mmrag.retrieve.tuning import fit_calibration
from mmrag.schema import NodeKind
from mmrag.store.token_vectors import pack, unpack
from tests.conftest import BIRD_PAGES, bird_questions, birds_rag, fast_pipeline, make_pdf

LATE = ("late_maxsim", "late_maxsim_rel")


@pytest.fixture
def late_rag(tmp_path: Path) -> RAG:
    return birds_rag(tmp_path, late_interaction=True)


def test_packed_token_vectors_come_back_within_a_quantisation_step() -> None:
    rng = np.random.default_rng(0)
    tokens = rng.normal(size=(7, 48)).astype(np.float32)
    tokens /= np.linalg.norm(tokens, axis=1, keepdims=True)
    blob = pack(tokens)
    assert len(blob) == 7 * (48 + 2)  # int8 per dimension, a float16 scale per token
    back = unpack(blob, 48)
    step = np.abs(tokens).max(axis=1, keepdims=True) / 127
    assert np.all(np.abs(back - tokens) <= step * 0.51 + 1e-3)
    assert unpack(pack(np.zeros((0, 48))), 48).shape == (0, 48)
    with pytest.raises(ValueError, match="not whole tokens"):
        unpack(blob[:-1], 48)


def test_maxsim_averages_each_query_tokens_best_match() -> None:
    query = np.array([[1.0, 0.0], [0.0, 1.0]])
    doc = np.array([[0.6, 0.8], [1.0, 0.0]])
    assert maxsim(query, doc) == pytest.approx((1.0 + 0.8) / 2)
    assert maxsim(query, doc[:1]) == pytest.approx((0.6 + 0.8) / 2)
    assert maxsim(query, np.zeros((0, 2))) == 0.0


def test_ingest_runs_the_embedder_once_for_vectors_and_tokens(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmrag.models.text_embed.hashing import HashingEmbedder

    def second_pass(*args: object, **kwargs: object) -> None:
        raise AssertionError("ingest embedded the chunks twice")

    monkeypatch.setattr(HashingEmbedder, "embed_tokens", second_pass)
    monkeypatch.setattr(
        HashingEmbedder,
        "embed_with_tokens",
        lambda self, texts: (self.embed(texts), [np.ones((1, self.dim))] * len(texts)),
    )
    (tmp_path / "docs").mkdir()
    make_pdf(tmp_path / "docs" / "birds.pdf", BIRD_PAGES)
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline(late_interaction=True))
    assert rag.ingest([tmp_path / "docs"]).nodes_written == 3


def test_ingest_stores_token_vectors_for_every_text_node(late_rag: RAG) -> None:
    store = late_rag.store
    rows = store._nodes_table().search().select(["id", "kind", "text"]).limit(None).to_list()
    texts = {r["id"]: r["text"] for r in rows if r["kind"] == NodeKind.TEXT.value}
    stored = store.token_vectors(list(texts), 64)
    assert set(stored) == set(texts) and len(texts) == 3
    assert late_rag.stats().to_dict()["token_vectors"] is True
    embedder = late_rag.components.token_embedder
    assert embedder is not None
    for node_id, tokens in stored.items():
        expected = embedder.embed_tokens([texts[node_id]])[0]
        assert tokens.shape == expected.shape  # one vector per word of the chunk
        assert np.allclose(tokens, expected, atol=0.01)


def test_retrieval_reads_maxsim_into_the_late_features(
    late_rag: RAG, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmrag.models.text_embed.hashing import HashingEmbedder

    embedder = late_rag.components.token_embedder
    assert isinstance(embedder, HashingEmbedder)
    asked: list[tuple[list[str], bool]] = []

    def one_pass(texts: list[str], *, is_query: bool = False) -> object:
        asked.append((list(texts), is_query))
        vectors = HashingEmbedder.embed(embedder, texts, is_query=is_query)
        return vectors, HashingEmbedder.embed_tokens(embedder, texts, is_query=is_query)

    def another_pass(*args: object, **kwargs: object) -> None:
        raise AssertionError("the query was embedded twice")

    monkeypatch.setattr(embedder, "embed_with_tokens", one_pass)
    monkeypatch.setattr(embedder, "embed", another_pass)
    monkeypatch.setattr(embedder, "embed_tokens", another_pass)
    found, fused = late_rag.retriever.candidates("heron reeds", user=None)
    # The query's vector and its token vectors come from one pass.
    assert asked == [(["heron reeds"], True)]
    assert found.late_similarity and set(found.late_similarity) <= {i.node.id for i in fused}
    x = feature_matrix(found, fused, rrf_k=60)
    value, relative = (FEATURES.index(f) for f in LATE)
    assert np.all((x[:, [value, relative]] >= 0) & (x[:, [value, relative]] <= 1))
    best = int(np.argmax(x[:, value]))
    assert x[best, relative] == 1.0 and "heron" in fused[best].node.text
    # Both query words are in the heron page: each finds itself among its tokens.
    assert x[best, value] == pytest.approx(1.0, abs=0.01)


def test_tuning_weighs_the_late_features(late_rag: RAG) -> None:
    queries = bird_questions(late_rag)
    assert all(q.features[:, FEATURES.index("late_maxsim")].max() > 0 for q in queries)
    weights = fit_calibration(queries).weights
    assert any(weights[f] != 0.0 for f in LATE)


def test_without_token_vectors_the_late_features_are_zero(fast_rag: RAG, tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    make_pdf(tmp_path / "docs" / "a.pdf", BIRD_PAGES[:1])
    fast_rag.ingest([tmp_path / "docs"])
    found, fused = fast_rag.retriever.candidates("heron", user=None)
    assert found.late_similarity == {}
    assert not feature_matrix(found, fused, rrf_k=60)[:, [FEATURES.index(f) for f in LATE]].any()


def test_a_store_and_a_pipeline_must_agree_on_token_vectors(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    make_pdf(tmp_path / "docs" / "a.pdf", BIRD_PAGES[:1])
    RAG.open(tmp_path / "plain", pipeline=fast_pipeline()).ingest([tmp_path / "docs"])
    with pytest.raises(StoreError, match="late_interaction"):
        RAG.open(tmp_path / "plain", pipeline=fast_pipeline(late_interaction=True))
    RAG.open(tmp_path / "late", pipeline=fast_pipeline(late_interaction=True)).ingest(
        [tmp_path / "docs"]
    )
    with pytest.raises(StoreError, match="late_interaction"):
        RAG.open(tmp_path / "late", pipeline=fast_pipeline())
    # Opened without naming a pipeline, a store keeps its own.
    assert RAG.open(tmp_path / "late").config.late_interaction


def test_late_interaction_changes_the_ingest_fingerprint() -> None:
    plain = fast_pipeline()
    late = fast_pipeline(late_interaction=True)
    assert late.ingest_fingerprint() != plain.ingest_fingerprint()


def test_an_embedder_without_token_vectors_is_a_clear_error() -> None:
    class Pooled:
        name = "pooled-only"

    components = Components(fast_pipeline(late_interaction=True))
    components.__dict__["text_embedder"] = Pooled()  # what the cached property would hold
    with pytest.raises(ConfigError, match="late_interaction needs a text_embedder"):
        _ = components.token_embedder


def test_minilm_gives_a_unit_vector_per_token() -> None:
    from mmrag.models.text_embed.sentence_transformers import (
        SentenceTransformerConfig,
        SentenceTransformerEmbedder,
    )

    embedder = SentenceTransformerEmbedder(SentenceTransformerConfig(model="all-MiniLM-L6-v2"))
    text = "The heron waits in the reeds."
    tokens = embedder.embed_tokens([text, "a wren"])
    assert tokens[0].shape == (len(embedder.tokenize(text)), embedder.dim)
    assert np.allclose(np.linalg.norm(tokens[0], axis=1), 1.0, atol=1e-3)
    asked = embedder.embed_tokens([text], is_query=True)[0]
    assert maxsim(asked, tokens[0]) == pytest.approx(1.0, abs=1e-3)
    assert maxsim(asked, tokens[1]) < 0.9
    # Ingest takes both from one forward pass: the same vectors as two passes give.
    vectors, together = embedder.embed_with_tokens([text, "a wren"])
    assert np.allclose(vectors, embedder.embed([text, "a wren"]), atol=1e-6)
    assert all(np.allclose(a, b, atol=1e-6) for a, b in zip(together, tokens, strict=True))


def test_the_late_pipeline_keeps_token_vectors_and_weighs_them() -> None:
    from mmrag.config import load_pipeline

    late, default = load_pipeline("late"), load_pipeline("default")
    assert late.late_interaction and not default.late_interaction
    assert late.text_embedder == default.text_embedder  # the token vectors are MiniLM's
    weights = late.retrieval.scorer.weights  # type: ignore[union-attr]
    assert weights["late_maxsim"] > 0 and weights["late_maxsim_rel"] > 0


def test_token_vectors_of_another_width_are_a_clear_error(late_rag: RAG) -> None:
    store = late_rag.store
    ids = [r["id"] for r in store._nodes_table().search().select(["id"]).limit(None).to_list()]
    with pytest.raises(StoreError, match="do not fit the text embedder's 63 dimensions"):
        store.token_vectors(ids, 63)
