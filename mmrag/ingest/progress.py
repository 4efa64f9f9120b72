"""Progress reporting for ingestion: a protocol, a silent default and a rich progress bar."""

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

    def stage(self, text: str) -> None: ...

    def advance(self, *, files: int = 0, pages: int = 0, images: int = 0) -> None: ...

    def warn(self, text: str) -> None: ...

    def finish(self) -> None: ...


class NullProgress:
    """Reports nothing; the default for library calls."""

    def start(self, total_files: int) -> None:
        pass

    def stage(self, text: str) -> None:
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
            TextColumn("files", table_column=Column(no_wrap=True)),
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
        self._pages = 0
        self._images = 0
        self._started = time.monotonic()

    def start(self, total_files: int) -> None:
        self._progress.start()
        self._task = self._progress.add_task(
            "Ingesting", total=total_files, pages=0, images=0, stage=""
        )

    def stage(self, text: str) -> None:
        self._progress.update(self._task, stage=text)

    def advance(self, *, files: int = 0, pages: int = 0, images: int = 0) -> None:
        self._pages += pages
        self._images += images
        self._progress.update(self._task, advance=files, pages=self._pages, images=self._images)

    def warn(self, text: str) -> None:
        self._progress.console.print(Text.assemble(("warning: ", "yellow"), text), highlight=False)

    def finish(self) -> None:
        self._progress.update(self._task, stage="done")
        self._progress.stop()
