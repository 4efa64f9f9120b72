"""Progress reporting for ingestion: a protocol, a silent default and a rich progress bar.

Files are committed in groups, so the file count moves in steps; in between, the stage
being worked on reports its own progress (``step``: chunks embedded so far), and the
display is up before the models load, so the screen never sits still.
"""

from __future__ import annotations

import time
from typing import Any, Protocol

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column
from rich.text import Text


class IngestProgress(Protocol):
    def start(self, total_files: int) -> None: ...

    def stage(self, text: str) -> None:
        """What is being done now; may come before :meth:`start` (loading models)."""
        ...

    def step(self, done: int, total: int) -> None:
        """How far the current stage is, in its own units (e.g. chunks embedded)."""
        ...

    def advance(self, *, files: int = 0, pages: int = 0, images: int = 0) -> None: ...

    def warn(self, text: str) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Reports nothing; the default for library calls."""

    def start(self, total_files: int) -> None:
        pass

    def stage(self, text: str) -> None:
        pass

    def step(self, done: int, total: int) -> None:
        pass

    def advance(self, *, files: int = 0, pages: int = 0, images: int = 0) -> None:
        pass

    def warn(self, text: str) -> None:
        pass

    def finish(self) -> None:
        pass


class _RatesColumn(ProgressColumn):
    """Pages and images done, with their rates."""

    def render(self, task: Task) -> Text:
        if not task.fields.get("rates", True):
            return Text("")
        pages, images = task.fields.get("pages", 0), task.fields.get("images", 0)
        elapsed = max(task.elapsed or 0.0, 1e-6)
        return Text(
            f"{pages} pages {pages / elapsed:.1f}/s · {images} img {images / elapsed:.1f}/s",
            style="progress.data.speed",
            no_wrap=True,
        )


class RichProgress:
    """A live progress bar on stderr: files done, pages/s, images/s, current stage."""

    def __init__(self, console: Console | None = None) -> None:
        self._console = console or Console(stderr=True)
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(bar_width=16),
            MofNCompleteColumn(table_column=Column(no_wrap=True)),
            TextColumn("{task.fields[unit]}", table_column=Column(no_wrap=True)),
            _RatesColumn(table_column=Column(no_wrap=True)),
            TimeElapsedColumn(),
            # The current stage takes what width is left and is cut, never wrapped.
            TextColumn(
                "{task.fields[stage]}",
                style="dim",
                table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1),
            ),
            console=self._console,
            transient=False,
            expand=True,
        )
        self._task: Any = None
        self._step_task: Any = None
        self._pages = 0
        self._images = 0
        self._started = time.monotonic()

    def start(self, total_files: int) -> None:
        self._show()
        self._progress.update(self._task, total=total_files)

    def stage(self, text: str) -> None:
        self._show()
        self._progress.update(self._task, stage=text)
        if self._step_task is not None:  # a new stage: its steps start again
            self._progress.remove_task(self._step_task)
            self._step_task = None
        self._progress.refresh()  # drawn now, not at the next tick

    def step(self, done: int, total: int) -> None:
        self._show()
        if self._step_task is None:  # a second row under the files: the stage's own bar
            self._step_task = self._progress.add_task(
                "  └", total=total, stage="", unit="", rates=False
            )
        self._progress.update(self._step_task, completed=done, total=total)
        self._progress.refresh()

    def advance(self, *, files: int = 0, pages: int = 0, images: int = 0) -> None:
        self._pages += pages
        self._images += images
        self._progress.update(self._task, advance=files, pages=self._pages, images=self._images)

    def warn(self, text: str) -> None:
        self._progress.console.print(Text.assemble(("warning: ", "yellow"), text), highlight=False)

    def finish(self) -> None:
        if self._task is None:
            return
        if self._step_task is not None:
            self._progress.remove_task(self._step_task)
            self._step_task = None
        self._progress.update(self._task, stage="done")
        self._progress.stop()

    def _show(self) -> None:
        """Start the live display (once), with an open-ended file count until ``start``."""
        if self._task is None:
            self._progress.start()
            self._task = self._progress.add_task(
                "Ingesting", total=None, pages=0, images=0, stage="", unit="files", rates=True
            )
