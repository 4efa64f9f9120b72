"""Can the offline answers be trusted? The trust metric on MMLongBench-Doc dev questions.

For each answer mode it prints, over the answerable and the "Not answerable" questions:
right, confidently wrong (answered, and the check says wrong), refused when answerable,
refused when not answerable and, for extractive answers, whether the quoted passage
contains the gold — next to page hit@1 and "gold page in the context" (its ceilings).
Modes:

- ``extractive``: the ``extractive`` pipeline (quotes, no generator);
- ``smollm-overlap``: SmolLM2-135M generation with the old support check (``overlap``);
- ``smollm-claims``: the same generation with the new check (``claims``);
- ``qwen-claims``: Qwen2.5-Coder-1.5B-Instruct generation (pipeline ``qwen``, ``pip
  install '.[qwen]'``) with the ``claims`` check; not among the default modes (slow).

Generated answers are scored by exact match, quotes by containment
(``mmrag.evaluate.trust``), each mode by the rule that fits it. The two SmolLM2 modes
share one generator and a cache of its replies: the drafts are the same (greedy decoding
over the same prompt), only the check differs, so the second mode costs no generation.

One JSON line on stdout; progress on stderr. Heavy: run it under the shared lock.

    flock /tmp/bench.lock .venv/bin/python benchmarks/answers.py --store bench-out/mmlongbench
    .venv/bin/python benchmarks/answers.py --store DIR --limit 20          # a quick look

The store must hold the MMLongBench PDFs (benchmarks/ingest.py --store DIR builds it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from mmrag import RAG
from mmrag.config import PipelineConfig, load_pipeline
from mmrag.evaluate.datasets import resolve
from mmrag.evaluate.runner import EvalSettings, evaluate_example
from mmrag.evaluate.summary import summarize
from mmrag.models.mllm import MLLM, Generation, GenerationOptions, Message

DATA_ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data"
#: mode -> (base pipeline, generation settings it overrides)
MODES: dict[str, tuple[str, dict[str, str]]] = {
    "extractive": ("extractive", {"answerer": "extractive"}),
    "smollm-overlap": ("smollm", {"answerer": "generate", "support_check": "overlap"}),
    "smollm-claims": ("smollm", {"answerer": "generate", "support_check": "claims"}),
    "qwen-claims": ("qwen", {"answerer": "generate", "support_check": "claims"}),
}
DEFAULT_MODES = ("extractive", "smollm-overlap", "smollm-claims")
#: Every 7th question (50 of 345: 41 answerable, 9 not) by default. Measured on the
#: shared 2-core machine (every 17th, first 20, 2026-11-29): SmolLM2 took a median 24 s
#: per answer (531 s for 20; decoding 18 tokens/s under load), the extractive mode 3 s;
#: all 345 would take ~2.5 h, every 7th ~25 min. `--stride 1 --minutes 0` runs them all.
DEFAULT_STRIDE = 7
#: ... and a time budget, since the machine's load decides how far that gets.
DEFAULT_MINUTES = 25.0


class CachedGenerator:
    """An MLLM that remembers its replies by prompt, so two modes generate once."""

    def __init__(self, inner: MLLM) -> None:
        self.inner = inner
        self.cache: dict[str, Generation] = {}
        self.hits = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def generate(self, messages: Sequence[Message], options: GenerationOptions) -> Generation:
        key = repr((list(messages), options))
        if key in self.cache:
            self.hits += 1
        else:
            self.cache[key] = self.inner.generate(messages, options)
        return self.cache[key]

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions
    ) -> Iterator[str | Generation]:
        generation = self.generate(messages, options)
        yield generation.text
        yield generation


def mode_config(mode: str) -> PipelineConfig:
    base, generation = MODES[mode]
    data = load_pipeline(base).model_dump(mode="json")
    data["name"] = mode
    data["generation"] = {**data["generation"], **generation}
    return PipelineConfig.from_dict(data, origin=f"benchmarks/answers.py mode {mode}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--data-root", type=Path, default=DATA_ROOT)
    parser.add_argument(
        "--modes",
        default=",".join(DEFAULT_MODES),
        help="comma-separated, of: " + ", ".join(MODES),
    )
    parser.add_argument("--stride", type=int, default=DEFAULT_STRIDE, help="every S-th question")
    parser.add_argument("--limit", type=int, default=None, help="only the first N (after --stride)")
    parser.add_argument(
        "--minutes",
        type=float,
        default=DEFAULT_MINUTES,
        help="stop taking new questions after this long (0: no limit)",
    )
    parser.add_argument(
        "--records",
        type=Path,
        default=None,
        help="write the records here as an evaluation folder (mmrag eval report reads it)",
    )
    args = parser.parse_args()
    if not (args.data_root / "mmlongbench_doc" / "samples.json").is_file():
        print(f"skipped: {args.data_root}/mmlongbench_doc not found", file=sys.stderr)
        return 0
    spec = resolve("mmlongbench", data_root=args.data_root)
    examples = spec.examples[:: args.stride][: args.limit]
    settings = EvalSettings(use_judge=False)
    # One cache per generator: modes that differ only in their check share its replies.
    shared: dict[str, CachedGenerator] = {}
    modes: dict[str, tuple[PipelineConfig, RAG]] = {}
    for mode in args.modes.split(","):
        config = mode_config(mode)
        rag = RAG.open(args.store, pipeline=config, create=False)
        if config.generation.answerer == "generate":
            key = config.generator.model_dump_json() if config.generator else ""
            shared.setdefault(key, CachedGenerator(rag.components.generator))
            rag.components.generator = shared[key]  # type: ignore[assignment]
        modes[mode] = (config, rag)
    # Question by question through every mode, so a run stopped by --minutes still
    # compares the modes on the same questions.
    records: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    seconds = dict.fromkeys(modes, 0.0)
    started, done = time.perf_counter(), 0
    for example in examples:
        if args.minutes and time.perf_counter() - started > args.minutes * 60:
            print(f"stopping: --minutes {args.minutes} spent", file=sys.stderr)
            break
        for mode, (_, rag) in modes.items():
            mark = time.perf_counter()
            records[mode].append(evaluate_example(rag, spec, example, settings, None))
            seconds[mode] += time.perf_counter() - mark
        done += 1
        if done % 5 == 0:
            elapsed = time.perf_counter() - started
            print(f"{done}/{len(examples)} questions in {elapsed:.0f} s", file=sys.stderr)
    results = {mode: describe(records[mode], seconds[mode]) for mode in modes}
    if args.records:
        for config, _ in modes.values():
            save_run(args.records, config, records[config.name], done, list(modes))
    examples = examples[:done]
    answerable = sum(e.answerable for e in examples)
    print(
        json.dumps(
            {
                "benchmark": "answers",
                "dataset": "MMLongBench-Doc dev (../shared/data/mmlongbench_doc), whole corpus",
                "questions": len(examples),
                "answerable": answerable,
                "not_answerable": len(examples) - answerable,
                "subset": f"every {args.stride}th question of {len(spec.examples)}, "
                f"first {len(examples)}"
                if args.stride > 1 or len(examples) < len(spec.examples)
                else "all",
                "store": str(args.store),
                "modes": results,
                "generations_reused": sum(cache.hits for cache in shared.values()),
                "decode_tokens_per_s": {
                    cache.inner.name: _decode_speed(cache.inner) for cache in shared.values()
                },
            },
            ensure_ascii=False,
        )
    )
    return 0


def save_run(
    folder: Path,
    config: PipelineConfig,
    records: list[dict[str, Any]],
    questions: int,
    modes: list[str],
) -> None:
    """Write the records as an evaluation folder: ``mmrag eval report FOLDER`` reads it."""
    run_dir = folder / "runs" / config.name
    run_dir.mkdir(parents=True, exist_ok=True)
    with (run_dir / "records.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
    (run_dir / "pipeline.yaml").write_text(
        yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False), encoding="utf-8"
    )
    summary = summarize(records, "page") | {"pipeline": config.name, "dataset": "mmlongbench"}
    (run_dir / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    manifest = {
        "dataset": "mmlongbench",
        "level": "page",
        "questions": questions,
        "pipelines": modes,
        "settings": {"generate": True, "use_judge": False, "by": "benchmarks/answers.py"},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")


def describe(records: list[dict[str, Any]], seconds: float) -> dict[str, Any]:
    """The trust tally of one mode, with the retrieval ceilings beside it."""
    summary = summarize(records, "page")
    trust = summary.get("trust") or {}
    targets = [r for r in records if (r.get("trust") or {}).get("single_value_gold")]
    per_answer = [r["timings"].get("ask_total", 0.0) for r in records if "timings" in r]

    def rate(rows: list[dict[str, Any]], value: Any) -> float | None:
        values = [float(value(r)) for r in rows]
        return round(statistics.fmean(values), 4) if values else None

    return {
        "rule": trust.get("rules"),
        "counts": {
            k: trust.get(k)
            for k in (
                "answered",
                "right",
                "confidently_wrong",
                "unchecked",
                "refused_answerable",
                "refused_unanswerable",
            )
        },
        "confidently_wrong_of_answered": trust.get("confidently_wrong_of_answered"),
        "right_of_answered": trust.get("right_of_answered"),
        "refused_of_answerable": trust.get("refused_of_answerable"),
        "refused_of_unanswerable": trust.get("refused_of_unanswerable"),
        "quote_contains_gold": trust.get("quote_contains_gold"),
        "words_per_answer": trust.get("words_per_answer"),
        # Ceilings for the quote metric, on the same string/number questions.
        "page_hit@1_on_quote_targets": rate(
            targets, lambda r: (r.get("retrieval") or {}).get("hit@1", 0.0)
        ),
        "gold_page_in_context_on_quote_targets": rate(
            targets, lambda r: (r.get("context_relevant") or 0) > 0
        ),
        "page_hit@1_answerable": (summary.get("retrieval") or {}).get("hit@1"),
        "seconds": round(seconds, 1),
        "seconds_per_question_median": round(statistics.median(per_answer), 2)
        if per_answer
        else None,
    }


def _decode_speed(generator: MLLM) -> float:
    probe = generator.generate(
        [Message.text("user", "Write a short paragraph about lighthouses.")],
        GenerationOptions(max_tokens=128, temperature=0.0),
    )
    return round(probe.tokens_per_second, 1)


if __name__ == "__main__":
    raise SystemExit(main())
