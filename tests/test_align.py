"""``mmrag align``: the fit recovers a planted map; the store keeps and uses it."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from mmrag.align import Pairs, fit, hit_rates, load_map
from mmrag.align.fit import fit_contrastive, fit_ridge
from mmrag.api import RAG
from mmrag.cli import app
from mmrag.models.image_embed import image_embedders
from mmrag.registry import BackendConfig
from tests.conftest import fast_pipeline

COLOURS = {
    "red": (220, 30, 30),
    "green": (30, 200, 40),
    "blue": (30, 40, 220),
    "yellow": (230, 220, 40),
    "purple": (140, 40, 160),
    "orange": (240, 140, 20),
}


class ColourConfig(BackendConfig):
    type: Literal["test-palette"] = "test-palette"


@image_embedders.register("test-palette", ColourConfig)
class ColourEmbedder:
    """Features that say which palette colour an image mostly is: not text-aligned in any
    way, so only a fitted map can connect "a red square" to them."""

    def __init__(self, config: ColourConfig) -> None:
        self.config = config
        self._palette = np.asarray(list(COLOURS.values()), dtype=np.float32)

    @property
    def name(self) -> str:
        return "test-palette"

    @property
    def dim(self) -> int:
        return len(COLOURS) + 2

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        rows = []
        for image in images:
            mean = np.asarray(image.convert("RGB"), dtype=np.float32).reshape(-1, 3).mean(axis=0)
            closeness = np.exp(-np.linalg.norm(self._palette - mean, axis=1) / 40.0)
            row = np.concatenate([closeness, [1.0, mean[0] / 255]]).astype(np.float32)
            rows.append(row / np.linalg.norm(row))
        return np.stack(rows) if rows else np.zeros((0, self.dim), dtype=np.float32)


def _pipeline() -> object:
    return fast_pipeline(image_embedder={"type": "test-palette"})


def _photos(folder: Path, *, captions: bool = True) -> Path:
    """Two photos per colour (named like a camera's, so file names caption nothing)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = []
    for i, (colour, rgb) in enumerate(COLOURS.items()):
        for j in range(2):
            pixels = np.clip(rng.normal(rgb, 12, size=(128, 128, 3)), 0, 255).astype(np.uint8)
            name = f"IMG_{1000 + 2 * i + j}.png"
            Image.fromarray(pixels).save(folder / name)
            rows += [(name, f"a {colour} square"), (name, f"{colour} picture of nothing")]
    if captions:
        with (folder / "captions.csv").open("w", encoding="utf-8", newline="") as fh:
            csv.writer(fh).writerows([("image", "caption"), *rows])
    return folder


@pytest.fixture
def photo_store(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    rag = RAG.open(store, pipeline=_pipeline())
    rag.ingest([_photos(tmp_path / "photos")])
    return store


def _planted(n_images: int, seed: int) -> Pairs:
    """Captions that are a noisy linear function of their image's features."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(n_images, 24)).astype(np.float32)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    planted = rng.normal(size=(24, 16)).astype(np.float32)
    images = np.repeat(np.arange(n_images), 3)
    texts = features[images] @ planted + 0.05 * rng.normal(size=(len(images), 16))
    texts /= np.linalg.norm(texts, axis=1, keepdims=True)
    return Pairs(features, texts.astype(np.float32), images)


@pytest.mark.parametrize("method", ["ridge", "contrastive"])
def test_fit_recovers_a_planted_map_on_images_it_never_saw(method: str) -> None:
    pairs = _planted(60, seed=1)
    fitted = fit(pairs.subset(np.arange(40)), methods=[method], folds=3)
    held = pairs.subset(np.arange(40, 60))
    assert hit_rates(fitted.matrix, held, ks=(1,))["hit@1"] >= 0.9
    assert fitted.method == method and fitted.cv


def test_both_fits_beat_chance_by_far() -> None:
    pairs = _planted(30, seed=2)
    for matrix in (fit_ridge(pairs, 1.0), fit_contrastive(pairs, 1e-3, steps=50)):
        assert hit_rates(matrix, pairs, ks=(1,))["hit@1"] >= 0.9


def test_cli_fit_stores_a_map_that_survives_reopening(photo_store: Path) -> None:
    result = CliRunner().invoke(
        app, ["align", "fit", "--store", str(photo_store), "--method", "ridge", "--json"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["images"] == 12 and report["pairs"] == 24
    assert report["found"] == {"captions.csv": 24}

    rag = RAG.open(photo_store)  # a fresh process would see the same
    stored = load_map(rag.store, None)
    assert stored is not None and stored.matrix.shape == (8, 64)
    assert stored.image_embedder == "test-palette" and stored.info["pairs"] == 24
    items = rag.search("a blue square", k=3)
    assert "text_image" in items[0].scores
    assert "IMG_1004" in items[0].node.source or "IMG_1005" in items[0].node.source


def test_cli_eval_reports_held_out_hits(photo_store: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["align", "eval", "--store", str(photo_store), "--method", "ridge", "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["split"].startswith("by photo: 6 searched")
    assert report["hit"]["hit@5"] > report["chance"]["hit@5"]
    assert set(report["hit"]) == {"hit@1", "hit@5", "hit@10"}


def test_a_store_without_a_map_searches_as_before(tmp_path: Path) -> None:
    store = tmp_path / "store"
    rag = RAG.open(store, pipeline=_pipeline())
    rag.ingest([_photos(tmp_path / "photos")])
    assert load_map(rag.store, None) is None
    found, _ = rag.retriever.candidates("a blue square")
    assert "text_image" not in found.lists
    assert "text_vector" in found.lists


def test_no_caption_pairs_is_one_clear_error(tmp_path: Path) -> None:
    store = tmp_path / "store"
    RAG.open(store, pipeline=_pipeline()).ingest([_photos(tmp_path / "photos", captions=False)])
    result = CliRunner().invoke(app, ["align", "fit", "--store", str(store)])
    assert result.exit_code == 1
    assert "no caption pairs found for the 12 images" in result.output
    assert "Traceback" not in result.output


def test_sidecar_text_files_and_unmatched_rows_are_counted(tmp_path: Path) -> None:
    photos = _photos(tmp_path / "photos", captions=False)
    (photos / "IMG_1000.txt").write_text("a red square\n\nred again\n", encoding="utf-8")
    extra = tmp_path / "more.csv"
    extra.write_text("image,caption\nIMG_1002.png,green\nmissing.png,nothing\n", encoding="utf-8")
    store = tmp_path / "store"
    RAG.open(store, pipeline=_pipeline()).ingest([photos])
    args = ["align", "fit", "--store", str(store), "--captions", str(extra), "--json"]
    result = CliRunner().invoke(app, [*args, "--method", "ridge"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["found"] == {".txt": 2, "captions.csv": 1}
    assert report["unmatched_caption_rows"] == 1
