"""RAP's text-only personal questions (two options each) answered offline, with the
concepts imported as memories and without them.

Order-free accuracy: free generation must be right with the options in both orders
(RAP's gold letters are 94% "A", and SmolLM2-135M answers "A" almost always);
likelihood and similarity score each option on its own, so order cannot matter.

    .venv/bin/python benchmarks/rap_qa.py [--data ../shared/data/rap]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections import Counter
from pathlib import Path

from mmrag import RAG
from mmrag.generate.choices import ChoiceMethod, choose
from mmrag.memory import import_rap

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rap"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    if not (args.data / "text_only_qa.json").is_file():
        print(f"skipped: {args.data} not found (needs ../shared/data)", file=sys.stderr)
        return 0
    rag = RAG.open(Path(tempfile.mkdtemp(prefix="mmrag-rap-")) / "store")
    memories = rag.memories("rap")
    import_rap(memories, args.data / "database" / "database.json")
    qa = json.loads((args.data / "text_only_qa.json").read_text(encoding="utf-8"))
    generator, embedder = rag.components.generator, rag.components.text_embedder
    results: dict[str, list[float]] = {}
    first_letters: Counter[str] = Counter()
    gold_letters: Counter[str] = Counter()
    for concept, questions in qa.items():
        own = memories.for_question(f"<{concept}>")
        for item in questions.values():
            question = item["question"].replace("sks", f"<{concept}>")
            options, gold = item["option"], item["correct_answer"]
            gold_letters[gold] += 1
            flipped = dict(zip(options, reversed(list(options.values())), strict=True))
            flipped_gold = next(k for k, v in flipped.items() if v == options[gold])
            for with_memory in (True, False):
                mem = own if with_memory else []
                tag = "with_memory" if with_memory else "without_memory"
                a = choose(
                    question,
                    options,
                    method=ChoiceMethod.GENERATE,
                    memories=mem,
                    generator=generator,
                )
                b = choose(
                    question,
                    flipped,
                    method=ChoiceMethod.GENERATE,
                    memories=mem,
                    generator=generator,
                )
                first_letters[a.key or "-"] += with_memory
                results.setdefault(f"generate_both_orders/{tag}", []).append(
                    float(a.key == gold and b.key == flipped_gold)
                )
                results.setdefault(f"generate_given_order/{tag}", []).append(float(a.key == gold))
                for method in (ChoiceMethod.LIKELIHOOD, ChoiceMethod.SIMILARITY):
                    c = choose(
                        question,
                        options,
                        method=method,
                        memories=mem,
                        generator=generator,
                        embedder=embedder,
                    )
                    results.setdefault(f"{method.value}/{tag}", []).append(float(c.key == gold))
    print(
        json.dumps(
            {
                "benchmark": "rap_qa",
                "questions": len(next(iter(results.values()))),
                "accuracy": {k: round(statistics.fmean(v), 3) for k, v in sorted(results.items())},
                "gold_letters": dict(gold_letters),
                "generated_letters_with_memory": dict(first_letters),
                "chance": {"two_orders": 0.25, "single": 0.5},
                "generator": generator.name,
                "embedder": embedder.name,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
