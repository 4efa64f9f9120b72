"""Evaluation reports: Markdown (with PNG files) and one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path

from mmrag.evaluate.report import content, data, render


def build_report(folder: str | Path, *, thumbnails: bool = True) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into an evaluation folder.

    ``thumbnails=False`` leaves the stored images out of the examples: for reports that
    are shared or committed while the images belong to someone else's dataset."""
    loaded = data.load(Path(folder))
    sections = content.build(loaded, thumbnails=thumbnails)
    return (
        render.markdown(loaded.title, sections, loaded.folder),
        render.html_page(loaded.title, sections, loaded.folder),
    )


def report_verdict(folder: str | Path) -> list[str]:
    """The report's verdict lines (Markdown emphasis removed), to print in a terminal."""
    from mmrag.evaluate.report.verdict import verdict

    return [line.replace("**", "") for line in verdict(data.load(Path(folder)))]


__all__ = ["build_report", "report_verdict"]
