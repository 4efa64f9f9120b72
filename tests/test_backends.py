"""One contract test per model seam, run against every registered backend."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from mmrag.models.image_embed import ImageEmbedder, ImageTagger, image_embedders
from mmrag.models.ocr import OcrEngine, ocr_engines
from mmrag.models.summarize import ImageContext, ImageSummarizer, image_summarizers
from mmrag.models.text_embed import TextEmbedder, text_embedders
from tests.conftest import text_image


@pytest.mark.parametrize("name", text_embedders.names())
def test_text_embedder_contract(name: str) -> None:
    embedder = text_embedders.create(text_embedders.parse(name))
    assert isinstance(embedder, TextEmbedder)
    texts = ["The cat sat on the mat.", "A feline rested on a rug.", "Quarterly revenue rose."]
    vectors = embedder.embed(texts)
    assert vectors.shape == (3, embedder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert np.allclose(embedder.embed(texts[:1]), vectors[:1], atol=1e-2)  # deterministic
    assert embedder.embed([]).shape == (0, embedder.dim)
    assert embedder.embed(["cat"], is_query=True).shape == (1, embedder.dim)
    assert 0 < len(embedder.tokenize(texts[0])) <= embedder.max_tokens
    # Texts sharing words are closer than unrelated ones.
    assert (
        vectors[0] @ embedder.embed(["the cat sat"])[0]
        > vectors[2] @ embedder.embed(["the cat sat"])[0]
    )


#: Backends whose default weights come from a model hub; their contract runs with tiny
#: random models in test_transformers_backends.py instead.
HUB_ONLY = {"transformers-clip", "open-clip"}


@pytest.mark.parametrize("name", image_embedders.names())
def test_image_embedder_contract(name: str) -> None:
    if name in HUB_ONLY:
        pytest.skip(f"{name} needs hub weights; tested with a tiny model elsewhere")
    embedder = image_embedders.create(image_embedders.parse(name))
    assert isinstance(embedder, ImageEmbedder)
    red = Image.new("RGB", (300, 200), (220, 30, 30))
    blue = Image.new("RGB", (150, 400), (30, 30, 220))
    vectors = embedder.embed_images([red, blue, red.copy()])
    assert vectors.shape == (3, embedder.dim) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert vectors[0] @ vectors[2] > 0.99 > vectors[0] @ vectors[1]
    assert embedder.embed_images([]).shape == (0, embedder.dim)
    if isinstance(embedder, ImageTagger):
        tags = embedder.tag_images([red], top_k=3)[0]
        assert len(tags) == 3 and all(0 <= p <= 1 for _, p in tags)
        assert tags == sorted(tags, key=lambda t: -t[1])


@pytest.mark.parametrize("name", ocr_engines.names())
def test_ocr_contract(name: str) -> None:
    engine = ocr_engines.create(ocr_engines.parse(name))
    assert isinstance(engine, OcrEngine)
    results = engine.recognize(
        [text_image("INVOICE 2024\nTotal 1250 EUR"), Image.new("RGB", (200, 200), "white")]
    )
    assert len(results) == 2
    assert "INVOICE" in results[0].text and "1250" in results[0].text
    assert results[1].text == ""
    assert engine.recognize([]) == []


@pytest.mark.parametrize("name", image_summarizers.names())
def test_summarizer_contract(name: str) -> None:
    summarizer = image_summarizers.create(image_summarizers.parse(name))
    assert isinstance(summarizer, ImageSummarizer)
    images = [Image.new("RGB", (224, 224), "white"), Image.new("RGB", (224, 224), "black")]
    contexts = [ImageContext(ocr_text="Revenue 2025", caption="Figure 1"), ImageContext()]
    summaries = summarizer.summarize(images, contexts)
    assert len(summaries) == 2 and all(s.strip() for s in summaries)
    assert "Revenue 2025" in summaries[0] and "Figure 1" in summaries[0]
