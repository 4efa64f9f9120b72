"""``mmrag align``: the fit recovers a planted map; the store keeps and uses it."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pytest
from PIL import Image
from typer.testing import CliRunner

from mmrag.align import AlignMap, Pairs, fit, hit_rates, load_map, save_map
from mmrag.align.calibrate import MapCalibration, fit_calibration
from mmrag.align.fit import fit_contrastive, fit_ridge
from mmrag.align.storage import ALIGN, ALIGN_SCHEMA
from mmrag.api import RAG
from mmrag.cli import app
from mmrag.models.image_embed import image_embedders
from mmrag.models.relevance import Candidates
from mmrag.registry import BackendConfig
from mmrag.retrieve.retriever import with_map_relevancy
from mmrag.schema import Node, NodeKind, ScoredNode
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


def _mapped_cosines(matrix: np.ndarray, pairs: Pairs) -> np.ndarray:
    mapped = pairs.texts @ matrix.T
    mapped /= np.linalg.norm(mapped, axis=1, keepdims=True)
    out: np.ndarray = mapped @ pairs.features.T
    return out


def test_calibration_predicts_how_often_the_top_image_is_right_on_unseen_images() -> None:
    """Noisier captions: the map's top image is right only some of the time, and the
    calibration, fitted on folds of the fitted images, must say how often on others."""
    rng = np.random.default_rng(3)
    n, dim = 160, 24
    features = rng.normal(size=(n, dim)).astype(np.float32)
    features /= np.linalg.norm(features, axis=1, keepdims=True)
    planted = rng.normal(size=(dim, 16)).astype(np.float32)
    images = np.repeat(np.arange(n), 3)
    texts = features[images] @ planted + 1.2 * rng.normal(size=(len(images), 16))
    texts = (texts / np.linalg.norm(texts, axis=1, keepdims=True)).astype(np.float32)
    pairs = Pairs(features, texts, images)
    fitted_on, searched = pairs.subset(np.arange(80)), pairs.subset(np.arange(80, 160))
    matrix = fit_ridge(fitted_on, 1.0)
    calibration = fit_calibration(fitted_on, matrix, "ridge", 1.0, pool=80)
    assert calibration is not None

    cosines = _mapped_cosines(matrix, searched)
    p = np.stack(
        [
            calibration.probabilities(text, matrix, row)
            for text, row in zip(searched.texts, cosines, strict=True)
        ]
    )
    top = cosines.argmax(axis=1)
    right = float(np.mean(top == searched.images))
    predicted = float(np.mean(p[np.arange(len(top)), top]))
    assert 0.15 < right < 0.85  # neither trivial nor hopeless, or the test says nothing
    assert abs(predicted - right) < 0.15
    # One relevant image per caption: the probabilities over all images sum to about one.
    assert 0.6 < float(p.sum(axis=1).mean()) < 1.5
    # A larger pool of images means more ways to be wrong, never a higher probability.
    larger = MapCalibration(
        calibration.coef, 800, calibration.mean_dir, calibration.spread, calibration.info
    )
    assert np.all(larger.probabilities(texts[0], matrix, cosines[0]) < p[0])


def test_calibrated_probability_never_falls_as_the_match_improves() -> None:
    # A downward quadratic, as fitted where gold images thin out at high z.
    calibration = MapCalibration((-2.0, 2.5, -0.2), 100, np.zeros(4), np.eye(4))
    z = np.linspace(-3, 15, 50)
    assert np.all(np.diff(calibration.log_ratio(z)) >= 0)
    matrix = np.eye(4, dtype=np.float32)
    p = calibration.probabilities(np.array([1.0, 0, 0, 0]), matrix, np.linspace(-1, 1, 9))
    assert np.all(np.diff(p) >= 0) and p[-1] > p[0]


def test_calibration_round_trips_and_old_maps_stay_loadable(tmp_path: Path) -> None:
    rag = RAG.open(tmp_path / "store", pipeline=_pipeline())
    matrix = np.arange(8 * 64, dtype=np.float32).reshape(8, 64) / 100
    # A table as stored before calibrations existed.
    later = ("calibration", "calibration_stats")
    old = pa.schema([f for f in ALIGN_SCHEMA if f.name not in later])
    table = rag.store.db.create_table(ALIGN, schema=old)
    table.add(
        [
            {
                "user": "",
                "image_embedder": "test-palette",
                "text_embedder": "hashing",
                "rows": 8,
                "cols": 64,
                "matrix": matrix.tobytes(),
                "info": "{}",
                "fitted_at": None,
            }
        ]
    )
    loaded = load_map(rag.store, None)
    assert loaded is not None and loaded.calibration is None
    assert loaded.relevancy(np.ones(64), np.array([0.1])) is None  # old behaviour

    rng = np.random.default_rng(0)
    spread = rng.normal(size=(64, 64))
    calibration = MapCalibration((-1.5, 2.0, -0.1), 42, rng.normal(size=64), spread @ spread.T)
    save_map(rag.store, AlignMap(matrix, "test-palette", "hashing", calibration=calibration))
    loaded = load_map(rag.store, None)
    assert loaded is not None and loaded.calibration is not None
    assert loaded.calibration.coef == calibration.coef and loaded.calibration.pool == 42
    np.testing.assert_allclose(loaded.calibration.spread, calibration.spread, rtol=1e-6)
    np.testing.assert_allclose(loaded.calibration.mean_dir, calibration.mean_dir, rtol=1e-6)


def _item(name: str, score: float, **lists: int) -> ScoredNode:
    node = Node(id=name, kind=NodeKind.IMAGE, doc_id=name, source=f"/photos/{name}.jpg")
    scores = {key: {"rank": float(rank), "score": 0.5} for key, rank in lists.items()}
    return ScoredNode(node=node, score=score, scores=scores)


def test_map_probability_merges_only_into_the_items_the_map_found() -> None:
    found = Candidates(query="a red square", text_image_relevancy=[0.8, 0.1])
    items = [
        _item("a", 0.2, text_vector=1),
        _item("b", 0.1, text_image=1),
        _item("c", 0.3, text_vector=2, text_image=2),
    ]
    with_map_relevancy(found, items)
    assert items[0].score == 0.2 and "text_image_p" not in items[0].scores
    assert items[1].score == pytest.approx(1 - 0.9 * 0.2)
    assert items[2].score == pytest.approx(1 - 0.7 * 0.9)
    assert items[1].scores["text_image_p"]["score"] == 0.8

    untouched = [_item("d", 0.4, text_image=1)]
    with_map_relevancy(Candidates(query="q"), untouched)  # a map without a calibration
    assert untouched[0].score == 0.4


def test_fit_stores_a_calibration_that_search_ranks_by(photo_store: Path) -> None:
    result = CliRunner().invoke(
        app, ["align", "fit", "--store", str(photo_store), "--method", "ridge"]
    )
    assert result.exit_code == 0, result.output
    assert "calibrated on held-out photos" in result.output
    rag = RAG.open(photo_store)
    stored = load_map(rag.store, None)
    assert stored is not None and stored.calibration is not None
    assert stored.calibration.pool == 12 and stored.info["calibration"]["pool"] == 12

    items = rag.retriever.retrieve("a purple square", k=4).items
    top = items[0]
    assert "IMG_1008" in top.node.source or "IMG_1009" in top.node.source
    p_map = top.scores["text_image_p"]["score"]
    assert p_map > 0.3  # colours this far apart: the map is sure, and says so
    assert top.score >= p_map  # merged by noisy-or: never below either side
