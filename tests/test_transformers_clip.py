"""The CLIP image embedders (transformers, open_clip) on a tiny random CLIP built offline.

The vectors are meaningless; the tests check normalisation, batching, precision, loading
a saved checkpoint, and the errors a user meets without the model or the package.
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch
import transformers

from mmrag.errors import MissingDependencyError, ModelError
from mmrag.models.image_embed.base import ImageEmbedder, TextToImageEmbedder, image_embedders
from mmrag.models.image_embed.clip import (
    OpenCLIP,
    OpenCLIPConfig,
    TransformersCLIP,
    TransformersCLIPConfig,
)
from tests.tiny_transformers import BOS, EOS, PAD, fast_tokenizer, image_processor, tiny_vision


@pytest.fixture(scope="session")
def clip_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random CLIP (projection 24-d) with its processor, saved like a hub checkpoint."""
    tokenizer = fast_tokenizer("<s> $A </s>", model_max_length=16)
    processor = transformers.CLIPProcessor(image_processor=image_processor(), tokenizer=tokenizer)
    config = transformers.CLIPConfig(
        text_config=dict(
            vocab_size=len(tokenizer),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=2,
            max_position_embeddings=16,
            bos_token_id=BOS,
            eos_token_id=EOS,
            pad_token_id=PAD,
        ),
        vision_config=tiny_vision(),
        projection_dim=24,
    )
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("tiny-clip")
    transformers.CLIPModel(config).eval().save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def clip(clip_dir: Path) -> TransformersCLIP:
    config = TransformersCLIPConfig(model=str(clip_dir), batch_size=2, precision="float32")
    return TransformersCLIP(config)


IMAGES = [
    Image.new("RGB", (64, 48), (220, 30, 30)),
    Image.new("RGB", (40, 90), (30, 30, 220)),
    Image.linear_gradient("L").convert("RGB"),
]
TEXTS = ["a dog on the beach", "the cat sat on the mat " * 10, "revenue"]


def test_clip_embeds_images_and_texts_into_one_space(clip: TransformersCLIP) -> None:
    assert isinstance(clip, ImageEmbedder) and isinstance(clip, TextToImageEmbedder)
    assert clip.dim == 24
    images = clip.embed_images(IMAGES)  # batch_size=2: two batches
    texts = clip.embed_texts(TEXTS)  # the long text is truncated to 16 tokens
    for vectors in (images, texts):
        assert vectors.shape == (3, clip.dim) and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    scores = texts @ images.T
    assert scores.shape == (3, 3) and np.all(np.abs(scores) <= 1 + 1e-5)
    assert not np.allclose(images[0], images[1])


def test_clip_is_deterministic_and_batch_independent(clip: TransformersCLIP) -> None:
    images = clip.embed_images(IMAGES)
    assert np.allclose(clip.embed_images(IMAGES), images, atol=1e-6)
    assert np.allclose(clip.embed_images(IMAGES[2:]), images[2:], atol=1e-5)
    texts = clip.embed_texts(TEXTS)
    assert np.allclose(clip.embed_texts(TEXTS[:1]), texts[:1], atol=1e-5)  # no padding effect
    assert clip.embed_images([]).shape == (0, 24)
    assert clip.embed_texts([]).shape == (0, 24)


def test_clip_bfloat16_stays_close_to_float32(clip_dir: Path, clip: TransformersCLIP) -> None:
    bf16 = TransformersCLIP(TransformersCLIPConfig(model=str(clip_dir), precision="bfloat16"))
    vectors = bf16.embed_images(IMAGES)
    assert vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(vectors * clip.embed_images(IMAGES), axis=1)) > 0.95


def test_clip_registry_loads_a_saved_directory(clip_dir: Path) -> None:
    config = image_embedders.parse({"type": "transformers-clip", "model": str(clip_dir)})
    embedder = image_embedders.create(config)
    assert isinstance(embedder, TransformersCLIP)
    assert embedder.name == f"transformers-clip:{clip_dir}"
    assert embedder.embed_images(IMAGES[:1]).shape == (1, 24)
    assert isinstance(image_embedders.parse({"type": "open-clip"}), OpenCLIPConfig)


@pytest.mark.usefixtures("offline")
def test_clip_missing_model_fails_fast() -> None:
    embedder = TransformersCLIP(TransformersCLIPConfig(model="mmrag-tests/no-such-clip"))
    start = time.perf_counter()
    with pytest.raises(ModelError, match="could not load the CLIP model"):
        embedder.embed_texts(["a dog"])
    assert time.perf_counter() - start < 10


@pytest.mark.skipif(
    importlib.util.find_spec("open_clip") is not None, reason="open_clip is installed"
)
def test_open_clip_without_the_package_names_the_extra() -> None:
    embedder = OpenCLIP(OpenCLIPConfig())
    assert isinstance(embedder, TextToImageEmbedder)
    assert embedder.name == "open-clip:ViT-B-32:laion2b_s34b_b79k"
    with pytest.raises(MissingDependencyError, match=r"\.\[clip\]") as caught:
        embedder.embed_images(IMAGES[:1])
    assert caught.value.extra == "clip"
    with pytest.raises(MissingDependencyError, match="open-clip-torch"):
        embedder.embed_texts(["a dog"])
