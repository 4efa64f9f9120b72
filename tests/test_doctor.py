"""``mmrag doctor``: install hints that can work, no "ready" for models that would have to
be downloaded, and exit codes that follow the default pipeline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mmrag.cli import app
from mmrag.cli.app import out
from mmrag.doctor import diagnose
from mmrag.hub_cache import is_cached

runner = CliRunner()

HUB_MODEL = "someone/tiny-embedder-not-downloaded"


@pytest.fixture
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache, wherever huggingface_hub would look."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(cache))
    return cache


def _pipeline(tmp_path: Path, text_embedder: str) -> Path:
    path = tmp_path / "hub.yaml"
    path.write_text(
        f"text_embedder: {text_embedder}\n"
        "image_embedder: null\nocr: null\nsummarizer: null\ngenerator: null\n",
        encoding="utf-8",
    )
    return path


def test_hub_model_missing_from_the_cache_is_not_ready(tmp_path: Path, hub_cache: Path) -> None:
    yaml = _pipeline(tmp_path, f"{{type: sentence-transformers, model: {HUB_MODEL}}}")
    report = diagnose([str(yaml)])
    (problem,) = report.pipelines[str(yaml)]
    assert HUB_MODEL in problem and "Hugging Face cache" in problem
    assert not report.ok

    result = runner.invoke(app, ["doctor", "-p", str(yaml)])
    assert result.exit_code == 1


def test_hub_model_in_the_cache_is_ready(tmp_path: Path, hub_cache: Path) -> None:
    snapshot = hub_cache / f"models--{HUB_MODEL.replace('/', '--')}" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}", encoding="utf-8")
    assert is_cached(HUB_MODEL, hub_cache)
    yaml = _pipeline(tmp_path, f"{{type: sentence-transformers, model: {HUB_MODEL}}}")
    assert diagnose([str(yaml)]).pipelines[str(yaml)] == []


def test_local_model_directory_is_ready(tmp_path: Path, hub_cache: Path) -> None:
    local = tmp_path / "my-model"
    local.mkdir()
    yaml = _pipeline(tmp_path, f"{{type: sentence-transformers, model: {local}}}")
    assert diagnose([str(yaml)]).pipelines[str(yaml)] == []


def test_install_hints_keep_their_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich markup used to swallow "[clip]", leaving "pip install 'mmrag'"."""
    monkeypatch.setattr("mmrag.doctor._installed", lambda module: module != "open_clip")
    monkeypatch.setattr(out, "width", 400)
    result = runner.invoke(app, ["doctor", "-p", "default"])
    line = next(x for x in result.output.splitlines() if "python: open_clip" in x)
    # mmrag is on no package index: the hint installs from the checkout.
    assert "pip install -e '.[clip]' in the mmrag checkout" in line


def test_exit_0_when_the_default_is_ready_even_if_others_are_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # No Ollama server here: the ollama pipeline is not ready, the default is.
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:9")
    result = runner.invoke(app, ["doctor", "--json"])
    data = json.loads(result.stdout)
    assert data["pipelines"]["default"]["ready"] is True
    assert data["pipelines"]["ollama"]["ready"] is False
    assert result.exit_code == 0

    strict = runner.invoke(app, ["doctor", "--strict", "--json"])
    assert strict.exit_code == 1
