"""Running pipelines over a dataset: one JSON line per question, resumable.

``out/`` holds ``manifest.json``, one store per distinct ingest (pipelines that index
the same way share it), ``runs/<pipeline>/records.jsonl`` and ``summary.json``, and the
judge cache. Re-running the same command skips questions already recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from mmrag.api import RAG
from mmrag.config import PipelineConfig, load_pipeline
from mmrag.errors import ConfigError
from mmrag.evaluate.dataset import Example
from mmrag.evaluate.datasets import DatasetSpec
from mmrag.evaluate.judge import Judge, JudgeCache
from mmrag.evaluate.metrics import retrieval_metrics
from mmrag.evaluate.summary import summarize
from mmrag.evaluate.trust import is_extractive, verdict
from mmrag.generate.choices import ChoiceMethod, choose
from mmrag.memory import import_rap
from mmrag.models.mllm import mllms
from mmrag.schema import NodeKind, ScoredNode

Progress = Callable[[str, int, int], None]


@dataclass(slots=True)
class EvalSettings:
    limit: int | None = None
    #: Generate answers (and judge them); off: retrieval metrics only.
    generate: bool = True
    #: Judge with this MLLM config; ``None`` uses each pipeline's own generator.
    judge: dict[str, Any] | None = None
    use_judge: bool = True
    choice_method: ChoiceMethod = ChoiceMethod.GENERATE
    data_root: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_eval(
    spec: DatasetSpec,
    pipelines: Sequence[str | PipelineConfig],
    out: Path,
    settings: EvalSettings,
    progress: Progress | None = None,
) -> list[Path]:
    """Evaluate each pipeline on ``spec``; returns the summary files written."""
    out.mkdir(parents=True, exist_ok=True)
    examples = spec.examples[: settings.limit]
    configs = [p if isinstance(p, PipelineConfig) else load_pipeline(p) for p in pipelines]
    for config in configs:
        _check_unchanged(out / "runs" / config.name, config)
    _write_manifest(out, spec, configs, settings, len(examples))
    cache = JudgeCache(out / "judge-cache.sqlite")
    summaries = []
    for config in configs:
        run_dir = out / "runs" / config.name
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "pipeline.yaml").write_text(
            yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
        )
        store = out / "stores" / f"{spec.name}-{config.ingest_fingerprint()}"
        rag = RAG.open(store, pipeline=config)
        if spec.corpus:
            rag.ingest(spec.corpus)
        if spec.memories is not None:
            for user in sorted({e.user for e in examples if e.user}):
                import_rap(rag.memories(user), spec.memories)
        judge = None
        if settings.generate and settings.use_judge:
            model = (
                mllms.create(mllms.parse(settings.judge))
                if settings.judge
                else rag.components.generator
            )
            judge = Judge(model, cache)
        records_path = run_dir / "records.jsonl"
        done = _done_ids(records_path)
        _end_with_newline(records_path)
        with records_path.open("a", encoding="utf-8") as fh:
            for index, example in enumerate(examples, start=1):
                if example.id not in done:
                    record = evaluate_example(rag, spec, example, settings, judge)
                    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
                    fh.flush()
                if progress:
                    progress(config.name, index, len(examples))
        summary = summarize(_read(records_path), spec.level)
        summary |= {"pipeline": config.name, "store": str(store), "dataset": spec.name}
        path = run_dir / "summary.json"
        path.write_text(json.dumps(summary, indent=2), encoding="utf-8")
        summaries.append(path)
    return summaries


def evaluate_example(
    rag: RAG, spec: DatasetSpec, example: Example, settings: EvalSettings, judge: Judge | None
) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": example.id,
        "question": example.question,
        "tags": example.tags,
        "gold": example.answer,
        "answerable_gold": example.answerable,
        "answer_format": example.metadata.get("answer_format"),
        "evidence": [ev.model_dump(mode="json") for ev in example.evidence],
    }
    if example.options:
        return record | _choice(rag, example, settings)
    started = time.perf_counter()
    gold = gold_keys(spec, example)
    if spec.level == "concept":
        found = rag.memories(example.user).for_question(example.question) if example.user else []
        ranking: list[Any] = [m.name.strip("<>") for m in found]
        items: list[ScoredNode] = []
    else:
        items = rag.search(example.question, image=example.image, user=example.user, k=10)
        ranking = [key(spec, item) for item in items]
    record["timings"] = {"retrieve": round(time.perf_counter() - started, 4)}
    if gold:
        record["retrieval"] = retrieval_metrics(ranking, gold)
    record["retrieved"] = [_brief(i, key(spec, i) in gold) for i in items[:5]]
    if settings.generate:
        answer = rag.ask(example.question, image=example.image, user=example.user)
        trust = verdict(
            answer.text,
            answered=answer.answerable,
            extractive=is_extractive(rag.config, answer),
            gold=example.answer,
            answer_format=example.metadata.get("answer_format"),
            question=example.question,
        )
        record |= {
            "answer": answer.text,
            "answerable": answer.answerable,
            "context_items": len(answer.context),
            "context_relevant": sum(1 for c in answer.context if key(spec, c) in gold)
            if gold
            else None,
            "citations": [c.to_dict() for c in answer.citations],
            "tokens": {"prompt": answer.prompt_tokens, "completion": answer.completion_tokens},
            # Scored by the rule that fits the answer: a quote by containment, a short
            # answer by exact match (see mmrag.evaluate.trust).
            "check": trust.correct,
            "trust": trust.to_dict(),
            "context": [_brief(c, key(spec, c) in gold) for c in answer.context],
        }
        record["timings"] |= {f"ask_{k}": v for k, v in answer.timings.items()}
        if judge is not None:
            mark = time.perf_counter()
            grades = judge.grade_all(
                example.question, answer, reference=example.answer, concepts=example.concepts
            )
            record["judge"] = {m: g.to_dict() for m, g in grades.items()}
            record["judge_model"] = judge.model.name
            record["timings"]["judge"] = round(time.perf_counter() - mark, 4)
    return record


def gold_keys(spec: DatasetSpec, example: Example) -> set[Any]:
    if spec.level == "concept":
        return set(example.concepts)
    if spec.level == "page":
        return {(Path(ev.source).name, p) for ev in example.evidence for p in ev.pages}
    return {Path(ev.source).name for ev in example.evidence}


def key(spec: DatasetSpec, item: ScoredNode) -> Any:
    name = Path(item.node.source).name
    return (name, item.node.page or 0) if spec.level == "page" else name


def _choice(rag: RAG, example: Example, settings: EvalSettings) -> dict[str, Any]:
    """Order-free multiple choice: right only if right with the options in every order."""
    memories = rag.memories(example.user).for_question(example.question) if example.user else []
    options = example.options
    orders = (
        [options, list(reversed(options))]
        if settings.choice_method == ChoiceMethod.GENERATE
        else [options]
    )
    picks = []
    started = time.perf_counter()
    for order in orders:
        lettered = {chr(65 + i): text for i, text in enumerate(order)}
        chosen = choose(
            example.question,
            lettered,
            method=settings.choice_method,
            memories=memories,
            generator=rag.components.generator,
            embedder=rag.components.text_embedder,
        )
        picks.append({"letter": chosen.key, "option": lettered.get(chosen.key or "")})
    return {
        "choice_method": settings.choice_method.value,
        "picks": picks,
        "correct": all(p["option"] == example.answer for p in picks),
        "memories": [m.name for m in memories],
        "retrieval": retrieval_metrics(
            [m.name.strip("<>") for m in memories], set(example.concepts)
        ),
        "timings": {"choose": round(time.perf_counter() - started, 4)},
    }


def _brief(item: ScoredNode, is_gold: bool) -> dict[str, Any]:
    n = item.node
    return {
        "gold": is_gold,
        "source": Path(n.source).name,
        "page": n.page,
        "kind": n.kind.value,
        "score": round(item.score, 4),
        "image_id": n.image_id if n.kind != NodeKind.TEXT else None,
        "text": " ".join(n.text.split())[:300],
    }


def _check_unchanged(run_dir: Path, config: PipelineConfig) -> None:
    """Resuming with a changed pipeline would mix two configurations in one result."""
    saved = run_dir / "pipeline.yaml"
    if not saved.is_file() or not _done_ids(run_dir / "records.jsonl"):
        return
    if yaml.safe_load(saved.read_text(encoding="utf-8")) != config.model_dump(mode="json"):
        raise ConfigError(
            f"pipeline '{config.name}' has changed since {run_dir} was started; "
            f"remove {run_dir} to run it again, or write to another --out"
        )


def _end_with_newline(path: Path) -> None:
    """A run killed mid-write leaves half a line; new records must start on their own."""
    if path.exists() and path.stat().st_size:
        with path.open("rb+") as fh:
            fh.seek(-1, 2)
            if fh.read(1) != b"\n":
                fh.write(b"\n")


def _done_ids(path: Path) -> set[str]:
    return {r["id"] for r in _read(path)} if path.exists() else set()


def _read(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue  # a line cut by an interrupted run: that question is simply redone
    return rows


def read_records(path: Path) -> list[dict[str, Any]]:
    return _read(path) if path.exists() else []


def _write_manifest(
    out: Path, spec: DatasetSpec, configs: Sequence[PipelineConfig], settings: EvalSettings, n: int
) -> None:
    manifest = {
        "dataset": spec.name,
        "level": spec.level,
        "questions": n,
        "pipelines": [c.name for c in configs],
        "settings": {
            "generate": settings.generate,
            "judge": settings.judge,
            "use_judge": settings.use_judge,
            "choice_method": settings.choice_method.value,
            "limit": settings.limit,
        },
        "updated": datetime.now(UTC).isoformat(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
