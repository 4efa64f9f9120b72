"""Calibrated recognition: each concept's claim floor comes from the user's own photos."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw
from typer.testing import CliRunner

from mmrag import RAG
from mmrag.cli import app
from mmrag.memory.recognition import best_matches, claim_floor, null_tops
from tests.conftest import SHARED_DATA, fast_pipeline


def _unit(*values: float) -> np.ndarray:
    vector = np.asarray(values, dtype=np.float32)
    return vector / np.linalg.norm(vector)


def test_the_floor_rises_with_the_photo_count() -> None:
    """Best-of over more photos reaches higher for non-matches too: the null must follow."""
    other = [("b", "b1", _unit(0.0, 1.0, 0.2))]
    one = [("a", "a1", _unit(1.0, 0.0, 0.0))]
    many = one + [("a", f"a{i}", _unit(1.0, 0.2 * i, 0.1)) for i in range(2, 6)]
    generic = np.stack([_unit(0.3, 0.3, 1.0)])
    assert null_tops(many + other, generic)["a"] > null_tops(one + other, generic)["a"]


def test_the_null_is_what_other_photos_reach() -> None:
    photos = [("a", "a1", _unit(1.0, 0.0)), ("b", "b1", _unit(0.6, 0.8))]
    tops = null_tops(photos, np.zeros((0, 2), dtype=np.float32))
    assert tops["a"] == pytest.approx(0.6) and tops["b"] == pytest.approx(0.6)
    # Alone and with no generic photos there is nothing to beat.
    assert null_tops(photos[:1], np.zeros((0, 2), dtype=np.float32)) == {"a": -1.0}
    assert claim_floor(0.6, 0.05) == pytest.approx(0.65)


def test_best_matches_keep_each_concepts_best_photo() -> None:
    photos = [("a", "a1", _unit(1.0, 0.0)), ("a", "a2", _unit(0.0, 1.0)), ("b", "b1", _unit(1, 1))]
    best = best_matches(np.stack([_unit(0.1, 1.0)]), photos)
    assert best["a"][1] == "a2" and best["a"][0] > best["b"][0]


def _picture(path: Path, colour: tuple[int, int, int], box: tuple[int, int, int, int]) -> Path:
    image = Image.new("RGB", (256, 256), "white")
    ImageDraw.Draw(image).ellipse(box, fill=colour)
    image.save(path)
    return path


@pytest.fixture
def rag(tmp_path: Path) -> RAG:
    return RAG.open(tmp_path / "store", pipeline=fast_pipeline(image_embedder="efficientnet-lite0"))


def test_recognitions_state_their_margin_and_floor(rag: RAG, tmp_path: Path) -> None:
    mine = rag.memories("alice")
    mine.add("ball", photos=[_picture(tmp_path / "ball.png", (220, 30, 30), (40, 40, 216, 216))])
    mine.add("lime", photos=[_picture(tmp_path / "lime.png", (40, 200, 40), (60, 60, 196, 196))])
    found = mine.recognise(_picture(tmp_path / "q.png", (215, 40, 35), (50, 50, 206, 206)))
    assert [r.memory.name for r in found] == ["<ball>", "<lime>"]
    assert found[0].margin == pytest.approx(found[0].similarity - found[1].similarity)
    assert found[1].margin is None  # no concept after it to lead
    # The floor is the concept's own, not the fixed threshold, and a claim clears it.
    assert found[0].needed != rag.config.memory.recognition_threshold
    assert found[0].claimed == (found[0].similarity >= found[0].needed)


def test_fixed_mode_keeps_the_stated_threshold(tmp_path: Path) -> None:
    pipeline = fast_pipeline(image_embedder="efficientnet-lite0")
    config = pipeline.model_dump(mode="json")
    config["memory"].update(recognition="fixed", recognition_threshold=0.99)
    rag = RAG.open(tmp_path / "store", pipeline=type(pipeline).from_dict(config))
    mine = rag.memories("alice")
    mine.add("ball", photos=[_picture(tmp_path / "ball.png", (220, 30, 30), (40, 40, 216, 216))])
    found = mine.recognise(_picture(tmp_path / "q.png", (215, 40, 35), (50, 50, 206, 206)))
    assert found[0].needed == pytest.approx(0.99) and not found[0].claimed


def test_cli_shows_the_margin_to_the_next_concept(tmp_path: Path) -> None:
    store = str(tmp_path / "store")
    pic = _picture(tmp_path / "ball.png", (220, 30, 30), (40, 40, 216, 216))
    RAG.open(store, pipeline=fast_pipeline(image_embedder="efficientnet-lite0")).memories(
        "alice"
    ).add("ball", photos=[pic])
    result = CliRunner().invoke(
        app, ["memory", "recognise", str(pic), "--user", "alice", "-s", store]
    )
    assert result.exit_code == 0, result.output
    # One concept: there is no next concept to have a margin over.
    assert "margin to next" in result.output and "—" in result.output
    assert "+" not in result.output
    result = CliRunner().invoke(
        app, ["memory", "recognise", str(pic), "--user", "alice", "-s", store, "--json"]
    )
    assert json.loads(result.stdout)[0]["margin"] is None


DREAMBOOTH = SHARED_DATA / "dreambooth"


@pytest.mark.skipif(not DREAMBOOTH.is_dir(), reason="needs ../shared/data/dreambooth")
def test_one_photo_enrolment_is_claimed_below_the_old_fixed_threshold(rag: RAG) -> None:
    """The shipped fixed 0.65 said "I don't recognise this one" about these sunglasses;
    their own floor, measured against the user's other things, claims them, and still
    refuses subjects the user never enrolled."""
    mine = rag.memories("alice")
    for subject in ("pink_sunglasses", "backpack", "candle", "clock"):
        mine.add(subject, photos=sorted((DREAMBOOTH / subject).glob("*.jpg"))[:1])
    own = mine.recognise(sorted((DREAMBOOTH / "pink_sunglasses").glob("*.jpg"))[1])[0]
    assert own.memory.key == "pink_sunglasses" and own.claimed
    assert own.similarity < rag.config.memory.recognition_threshold
    for stranger in ("dog5", "robot_toy"):
        found = mine.recognise(sorted((DREAMBOOTH / stranger).glob("*.jpg"))[0])
        assert not any(r.claimed for r in found), stranger
