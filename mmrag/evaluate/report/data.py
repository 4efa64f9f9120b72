"""Gathering what a report shows from an evaluation folder."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mmrag.errors import ConfigError
from mmrag.evaluate.runner import read_records
from mmrag.evaluate.summary import summarize


@dataclass(slots=True)
class PipelineRun:
    name: str
    summary: dict[str, Any]
    records: list[dict[str, Any]]
    store: str | None = None


@dataclass(slots=True)
class ReportData:
    folder: Path
    manifest: dict[str, Any]
    runs: list[PipelineRun] = field(default_factory=list)

    @property
    def title(self) -> str:
        return f"mmrag evaluation: {self.manifest.get('dataset', '?')}"


def load(folder: Path) -> ReportData:
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise ConfigError(
            f"{folder} is not an evaluation folder (no manifest.json); run `mmrag eval run` first"
        )
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    data = ReportData(folder, manifest)
    for name in manifest.get("pipelines", []):
        run_dir = folder / "runs" / name
        records = read_records(run_dir / "records.jsonl")
        if not records:
            continue
        old = run_dir / "summary.json"
        store = json.loads(old.read_text(encoding="utf-8")).get("store") if old.is_file() else None
        data.runs.append(
            PipelineRun(name, summarize(records, manifest.get("level", "page")), records, store)
        )
    if not data.runs:
        raise ConfigError(f"{folder} holds no finished questions yet")
    return data


def examples(run: PipelineRun, n: int = 3) -> list[dict[str, Any]]:
    """A few questions to show: right and wrong ones, in a stable order."""
    answered = [r for r in run.records if "answer" in r or "picks" in r or "retrieved" in r]
    right = [
        r
        for r in answered
        if r.get("check") or r.get("correct") or (r.get("retrieval") or {}).get("hit@5")
    ]
    wrong = [r for r in answered if r not in right]
    picked = right[: (n + 1) // 2] + wrong[: n // 2]
    return picked or answered[:n]
