"""A second text embedder: its vectors stored at ingest, its cosines in the relevancy score."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mmrag import RAG
from mmrag.errors import StoreError
from mmrag.models.relevance.base import Candidates
from mmrag.models.relevance.features import FEATURES, feature_matrix
from mmrag.retrieve.fusion import reciprocal_rank_fusion
from mmrag.retrieve.tuning import fit_calibration
from mmrag.schema import NodeKind
from mmrag.store import Hit
from tests.conftest import bird_questions, birds_rag, fast_pipeline, make_pdf
from tests.test_retrieval import node

SECOND = {"type": "hashing", "dim": 512, "max_tokens": 64}
SECOND_FEATURES = ("second_cos", "second_cos_rel", "inv_rank_second", "second_page_context")


@pytest.fixture
def two_embedders(tmp_path: Path) -> RAG:
    return birds_rag(tmp_path, second_embedder=SECOND)


def test_ingest_stores_a_second_vector_for_every_text_node(two_embedders: RAG) -> None:
    store = two_embedders.store
    ids = [
        row["id"]
        for row in store._nodes_table().search().select(["id", "kind"]).limit(None).to_list()
        if row["kind"] == NodeKind.TEXT.value
    ]
    vectors = store.second_vectors(ids)
    assert set(vectors) == set(ids) and len(ids) == 3
    assert all(v.shape == (512,) and np.isclose(np.linalg.norm(v), 1.0) for v in vectors.values())
    meta = store.meta()
    assert meta["second_embedder"] == "hashing-512" and meta["second_dim"] == 512
    assert two_embedders.stats().to_dict()["second_embedder"] == "hashing-512"


def test_retrieval_reads_the_second_cosines_into_the_features(two_embedders: RAG) -> None:
    query = "heron reeds"
    found, fused = two_embedders.retriever.candidates(query, user=None)
    assert found.second_similarity and set(found.second_similarity) <= {
        h.node.id for hits in found.lists.values() for h in hits
    }
    second = two_embedders.components.second_embedder
    assert second is not None
    asked = second.embed([query], is_query=True)[0]
    for item in fused:  # the stored vectors are the embedder's own, read back whole
        expected = float(second.embed([item.node.text])[0] @ asked)
        assert found.second_similarity[item.node.id] == pytest.approx(expected, abs=1e-5)
    x = feature_matrix(found, fused, rrf_k=60)
    columns = [FEATURES.index(f) for f in SECOND_FEATURES]
    assert np.all((x[:, columns] >= 0) & (x[:, columns] <= 1))
    best = int(np.argmax(x[:, FEATURES.index("second_cos")]))
    assert x[best, FEATURES.index("inv_rank_second")] == 1.0
    assert x[best, FEATURES.index("second_cos_rel")] == 1.0
    assert "heron" in fused[best].node.text


def test_tuning_weighs_the_second_features(two_embedders: RAG) -> None:
    queries = bird_questions(two_embedders)
    assert all(q.features[:, FEATURES.index("second_cos")].max() > 0 for q in queries)
    weights = fit_calibration(queries).weights
    assert any(weights[f] != 0.0 for f in SECOND_FEATURES)


def test_without_a_second_embedder_its_features_are_zero(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    make_pdf(tmp_path / "docs" / "a.pdf", ["The heron waits in the reeds."])
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline())
    rag.ingest([tmp_path / "docs"])
    found, fused = rag.retriever.candidates("heron", user=None)
    assert found.second_similarity == {}
    x = feature_matrix(found, fused, rrf_k=60)
    assert not x[:, [FEATURES.index(f) for f in SECOND_FEATURES]].any()


def test_a_store_without_second_vectors_refuses_a_pipeline_that_needs_them(
    tmp_path: Path,
) -> None:
    (tmp_path / "docs").mkdir()
    make_pdf(tmp_path / "docs" / "a.pdf", ["The heron waits in the reeds."])
    RAG.open(tmp_path / "store", pipeline=fast_pipeline()).ingest([tmp_path / "docs"])
    with pytest.raises(StoreError, match="second_embedder"):
        RAG.open(tmp_path / "store", pipeline=fast_pipeline(second_embedder=SECOND))


def test_the_second_embedder_changes_the_ingest_fingerprint() -> None:
    plain = fast_pipeline()
    assert fast_pipeline(second_embedder=SECOND).ingest_fingerprint() != plain.ingest_fingerprint()
    assert "second_embedder" not in plain.model_dump(exclude_none=True)


def test_items_without_a_second_vector_get_zeros() -> None:
    text, image = node("text", page=1), node("image", page=2)
    found = Candidates(
        query="q",
        lists={"text_vector": [Hit(text, 0.8)], "image_vector": [Hit(image, 0.5)]},
        second_similarity={text.id: 0.6},
    )
    x = feature_matrix(found, reciprocal_rank_fusion(found.lists), rrf_k=60)
    rows = {item.node.id: x[i] for i, item in enumerate(reciprocal_rank_fusion(found.lists))}
    column = FEATURES.index("second_cos")
    assert rows[text.id][column] == pytest.approx(0.6)
    assert rows[image.id][column] == 0.0 and rows[image.id][column + 2] == 0.0
