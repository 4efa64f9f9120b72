"""Ingest progress: on screen before the models load, and moving while a group of files
is embedded (it used to sit at 0/18 files for 50 s, after a blank screen)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from mmrag import RAG
from mmrag.ingest import RichProgress
from tests.conftest import fast_pipeline


class Recorder:
    """An IngestProgress that remembers every call, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def start(self, total_files: int) -> None:
        self.events.append(("start", total_files))

    def stage(self, text: str) -> None:
        self.events.append(("stage", text))

    def step(self, done: int, total: int) -> None:
        self.events.append(("step", done, total))

    def advance(self, *, files: int = 0, pages: int = 0, images: int = 0) -> None:
        self.events.append(("advance", files))

    def warn(self, text: str) -> None:
        self.events.append(("warn", text))

    def finish(self) -> None:
        self.events.append(("finish",))


class _SlowToLoad:
    """An embedder whose size is known only once its model has loaded."""

    def __init__(self, inner: Any, events: list[tuple[Any, ...]]) -> None:
        self._inner, self._events = inner, events

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    @property
    def dim(self) -> int:
        self._events.append(("model loaded",))
        return int(self._inner.dim)


def _long_text(path: Path, sentences: int) -> Path:
    path.write_text(
        " ".join(f"Sentence {i} says tapirs eat fruit number {i}." for i in range(sentences)),
        encoding="utf-8",
    )
    return path


def test_progress_shows_before_the_models_load(tmp_path: Path) -> None:
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline())
    progress = Recorder()
    rag.components.__dict__["text_embedder"] = _SlowToLoad(
        rag.components.text_embedder, progress.events
    )
    rag.ingest(_long_text(tmp_path / "a.txt", 3), progress=progress)
    assert progress.events[0] == ("stage", "loading models")
    assert progress.events.index(("model loaded",)) > 0


def test_progress_moves_while_chunks_are_embedded(tmp_path: Path) -> None:
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline())
    progress = Recorder()
    report = rag.ingest(_long_text(tmp_path / "a.txt", 1500), progress=progress)
    steps = [e for e in progress.events if e[0] == "step"]
    total = steps[0][2]
    assert total > 2 * 64, "the test needs several slices of chunks"
    assert [done for _, done, _ in steps] == [0, *range(64, total, 64), total]
    # All of it before the file counts as done.
    assert progress.events.index(("advance", 1)) > progress.events.index(steps[-1])
    assert report.ingested == 1


def test_rich_progress_draws_a_bar_for_the_current_stage() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, width=120)
    progress = RichProgress(console)
    progress.stage("loading models")  # before start: the display is up already
    progress.start(3)
    progress.stage("embedding 640 chunks")
    progress.step(320, 640)
    progress.advance(files=3, pages=3)
    progress.finish()
    drawn = console.file.getvalue()  # type: ignore[attr-defined]
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", drawn)  # without colours
    assert "loading models" in screen and "320/640" in screen and "3/3 files" in screen


def test_progress_is_closed_when_the_models_cannot_load(tmp_path: Path) -> None:
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline())
    progress = Recorder()

    class Broken:
        @property
        def dim(self) -> int:
            raise KeyboardInterrupt  # or any error while the models load

    rag.components.__dict__["text_embedder"] = Broken()
    with pytest.raises(KeyboardInterrupt):
        rag.ingest(_long_text(tmp_path / "a.txt", 3), progress=progress)
    assert progress.events == [("stage", "loading models"), ("finish",)]
