"""Answers from the offline default on MMLongBench-Doc questions, and generation speed.

Prints one JSON line: per question the gold answer, ours, whether we refused, and the
citations; plus tokens/s of the generator and latency per stage.

    .venv/bin/python benchmarks/answers.py --store DIR [--n 5] [--pipeline default]

The store must hold the MMLongBench PDFs (benchmarks/ingest.py --store DIR builds it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from mmrag import RAG
from mmrag.models.mllm import GenerationOptions, Message

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmlongbench_doc"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--pipeline", default="default")
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--within-doc", action="store_true", help="search only the question's PDF")
    args = parser.parse_args()
    if not (args.data / "samples.json").is_file():
        print(f"skipped: {args.data} not found (needs ../shared/data)", file=sys.stderr)
        return 0
    samples = json.loads((args.data / "samples.json").read_text(encoding="utf-8"))
    # A spread of evidence types, answerable and not, in a fixed order.
    picked = samples[:: max(1, len(samples) // args.n)][: args.n]
    rag = RAG.open(args.store, pipeline=args.pipeline, create=False)
    rows, speeds, generate_s, retrieve_s = [], [], [], []
    for sample in picked:
        answer = rag.ask(sample["question"], source=sample["doc_id"] if args.within_doc else None)
        rows.append(
            {
                "question": sample["question"],
                "gold": sample["answer"],
                "evidence": {"doc": sample["doc_id"], "pages": sample["evidence_pages"]},
                "answer": answer.text,
                "answerable": answer.answerable,
                "model_said": answer.raw_text or None,
                "citations": [
                    f"[{c.number}] {Path(c.node.source).name} p.{c.node.page}"
                    + (" (inferred)" if c.inferred else "")
                    for c in answer.citations
                ],
            }
        )
        if "generate" in answer.timings and answer.completion_tokens:
            speeds.append(answer.completion_tokens / answer.timings["generate"])
            generate_s.append(answer.timings["generate"])
        retrieve_s.append(answer.timings.get("retrieve", 0.0))
    probe = rag.components.generator.generate(
        [Message.text("user", "Write a short paragraph about lighthouses.")],
        GenerationOptions(max_tokens=128, temperature=0.0),
    )
    print(
        json.dumps(
            {
                "benchmark": "answers",
                "pipeline": rag.config.name,
                "generator": rag.components.generator.name,
                "questions": rows,
                "answer_tokens_per_s_incl_prompt": round(statistics.fmean(speeds), 1)
                if speeds
                else None,
                "decode_tokens_per_s": round(probe.tokens_per_second, 1),
                "generate_seconds_median": round(statistics.median(generate_s), 2)
                if generate_s
                else None,
                "retrieve_seconds_median": round(statistics.median(retrieve_s), 3),
            },
            ensure_ascii=False,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
