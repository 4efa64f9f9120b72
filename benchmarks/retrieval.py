"""Page retrieval on MMLongBench-Doc: does the gold evidence page come back, and how much
context does it take?

For the answerable questions (gold evidence pages), searching within the question's own
PDF and across the whole corpus, it prints one JSON line with hit@1/5/10 and MRR of:

  a_vector            plain vector search over page-text chunks
  b_hybrid            + BM25 full text, fused (reciprocal rank fusion)
  c_hybrid_images     + image summaries (OCR + tags) as candidates
  grouped_cv          + calibrated relevancy score and adaptive k, cross-validated
                        grouped by document: fitted on half of the PDFs' questions,
                        scored on the other half's, over --repeats random groupings
                        (mean and sd): the headline, what to expect on new documents
  question_split_cv   the same with questions split at random regardless of their
                        document (what earlier versions reported; optimistic)
  shipped             the pipeline's own scorer (fitted on these questions: in-sample),
                        with adaptive k vs fixed k=10 and retrieval latency
  document_routing    how often the right document comes first (the document prior)
  llamaindex          LlamaIndex as its users set it up (VectorStoreIndex on LanceDB,
                        same MiniLM, default splitter), built in the same run; files it
                        could not read are counted, their questions are misses
  latency             warm retrieve latency, each question once per scope (median, p95,
                        per stage), and with --rankings a before/after ranking check
                        (benchmarks/retrieval_latency.py)

Adaptive k in grouped_cv is reported for each in-sample fit target tau is fitted for
(--fit-targets), with the one ``mmrag tune`` would pick.

Every section is guarded: one that fails is recorded as {"error": ...} and the others'
figures are kept; messages go to stderr, the JSON line to stdout (and to --out after
each section, so a run cut short keeps what it measured).

    .venv/bin/python benchmarks/retrieval.py --store DIR [--data DIR] [--no-llamaindex]
        [--limit N] [--repeats N] [--out FILE] [--only SECTION ...] [--rankings FILE]

--data is any folder of the same shape: samples.json (MMLongBench's format) and
documents/. Without --store (or with an empty one) it first ingests the PDFs (~4-5
minutes for the dev set's 39).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from mmrag import RAG, NodeKind, PipelineConfig
from mmrag.components import Components
from mmrag.config import RetrievalConfig
from mmrag.evaluate.dataset import Example, from_mmlongbench
from mmrag.retrieve import Retriever, SearchFilter
from mmrag.retrieve.tuning import FIT_TARGETS, LabelledQuery, collect, is_evidence
from mmrag.retrieve.validation import (
    Fitting,
    choose_fit_target,
    cross_validate,
    document_of,
    question_of,
)

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmlongbench_doc"
CUTOFFS = (1, 5, 10)
SCOPES = ("within_doc", "corpus")
TEXT = (NodeKind.TEXT,)
TEXT_AND_SUMMARIES = (NodeKind.TEXT, NodeKind.IMAGE_SUMMARY)

Ranker = Callable[[Example, str], list[tuple[str, int]]]


def page_metrics(rank: int | None) -> dict[str, float]:
    out = {f"hit@{k}": float(rank is not None and rank <= k) for k in CUTOFFS}
    out["mrr"] = 1.0 / rank if rank else 0.0
    return out


def mean(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    return {m: round(statistics.fmean(r[m] for r in rows), 3) for m in rows[0]} if rows else {}


def first_hit(pages: list[tuple[str, int]], example: Example) -> int | None:
    gold = {(Path(e.source).name, p) for e in example.evidence for p in e.pages}
    return next((i for i, key in enumerate(pages, start=1) if key in gold), None)


def retriever_ranker(retriever: Retriever, kinds: tuple[NodeKind, ...]) -> Ranker:
    def rank(example: Example, scope: str) -> list[tuple[str, int]]:
        sources = tuple(e.source for e in example.evidence) if scope == "within_doc" else ()
        items = retriever.retrieve(
            example.question, filters=SearchFilter(sources=sources, kinds=kinds), k=50
        ).items
        pages: list[tuple[str, int]] = []
        for item in items:
            key = (Path(item.node.source).name, item.node.page or 0)
            if key not in pages:
                pages.append(key)
        return pages[:10]

    return rank


def variant(base: PipelineConfig, **retrieval: Any) -> PipelineConfig:
    data = base.model_dump(mode="json")
    data["retrieval"] = {**data["retrieval"], **retrieval}
    return PipelineConfig.from_dict(data)


def evaluate(ranker: Ranker, examples: Sequence[Example]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for scope in SCOPES:
        rows = [page_metrics(first_hit(ranker(e, scope), e)) for e in examples]
        result[scope] = mean(rows)
        if scope == "within_doc":
            by_tag: dict[str, list[dict[str, float]]] = defaultdict(list)
            for e, row in zip(examples, rows, strict=True):
                for tag in e.tags or ["Unknown"]:
                    by_tag[tag].append(row)
            result["within_doc_by_evidence_source"] = {
                t: {"n": len(r), **mean(r)} for t, r in sorted(by_tag.items())
            }
    return result


def adaptive_vs_fixed(retriever: Retriever, examples: Sequence[Example]) -> dict[str, Any]:
    """Context items and hit rate (a gold page among them) for adaptive k and fixed k=10
    and k=5 (the first five of the ten: selection without neighbours is a prefix)."""
    out: dict[str, Any] = {}
    latencies = []
    for scope in SCOPES:
        stats: dict[str, list[float]] = defaultdict(list)
        for e in examples:
            relevant = is_evidence(e)
            sources = tuple(x.source for x in e.evidence) if scope == "within_doc" else ()
            filters = SearchFilter(sources=sources, kinds=TEXT_AND_SUMMARIES)
            started = time.perf_counter()
            adaptive = retriever.retrieve(e.question, filters=filters).items
            latencies.append(time.perf_counter() - started)
            fixed = retriever.retrieve(e.question, filters=filters, k=10).items
            for name, items in (
                ("adaptive", adaptive),
                ("fixed_k10", fixed),
                ("fixed_k5", fixed[:5]),
            ):
                stats[f"{name}_items"].append(len(items))
                stats[f"{name}_hit"].append(float(any(relevant(i.node) for i in items)))
        out[scope] = {k: round(statistics.fmean(v), 3) for k, v in stats.items()}
        out[scope]["hit_kept"] = round(
            out[scope]["adaptive_hit"] / max(out[scope]["fixed_k10_hit"], 1e-9), 3
        )
        out[scope]["items_ratio"] = round(
            out[scope]["adaptive_items"] / max(out[scope]["fixed_k10_items"], 1e-9), 3
        )
        out[scope]["fixed_k5_hit_kept"] = round(
            out[scope]["fixed_k5_hit"] / max(out[scope]["fixed_k10_hit"], 1e-9), 3
        )
    latencies.sort()
    out["latency_ms"] = {
        "median": round(1000 * statistics.median(latencies), 1),
        "p95": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1),
    }
    return out


def fitted_figures(
    queries: Sequence[LabelledQuery],
    settings: RetrievalConfig,
    group: Callable[[LabelledQuery], str],
    repeats: int,
    fit_targets: Sequence[float],
) -> dict[str, Any]:
    """The calibrated score and adaptive k fitted on some questions' candidates and scored
    on the others', in 2 folds of ``group`` (documents, or single questions)."""
    results = cross_validate(
        queries, settings, Fitting(fit_targets=tuple(fit_targets)), repeats=repeats, group=group
    )
    if not results:
        raise ValueError("fewer than 2 groups to cross-validate")
    target = choose_fit_target(results, 0.95)
    return {
        "folds": 2,
        "repeats": repeats,
        "fit_target": target,
        **{SCOPE_NAMES[scope]: f for scope, f in results[target].items()},
        "adaptive_by_fit_target": {
            str(t): {
                SCOPE_NAMES[scope]: {k: f[k] for k in ADAPTIVE_FIGURES}
                for scope, f in by_scope.items()
            }
            for t, by_scope in results.items()
        },
    }


SCOPE_NAMES = {"document": "within_doc", "corpus": "corpus"}
ADAPTIVE_FIGURES = ("hit_kept", "hit_kept_sd", "items_ratio", "items_ratio_sd")


def section(figures: dict[str, Any], name: str, run: Callable[[], Any], out: Path | None) -> None:
    """``figures[name] = run()``; a failure becomes ``{"error": ...}`` (traceback to
    stderr), so the other sections' figures survive it. Writes ``out`` after each one."""
    started = time.perf_counter()
    try:
        figures[name] = run()
    except Exception as exc:  # a benchmark section must not take the others down
        traceback.print_exc(file=sys.stderr)
        figures[name] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
        figures.setdefault("failed_sections", []).append(name)
    print(f"{name}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    if out is not None:
        out.write_text(json.dumps(figures) + "\n", encoding="utf-8")


def llamaindex_figures(data: Path, examples: Sequence[Example], workdir: Path) -> dict[str, Any]:
    from llamaindex_baseline import LlamaIndexBaseline

    baseline = LlamaIndexBaseline(data / "documents", workdir)
    figures = evaluate(
        lambda e, scope: baseline.ranked_pages(
            e.question, Path(e.evidence[0].source).name if scope == "within_doc" else None
        ),
        examples,
    )
    return {**figures, **baseline.figures()}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path, default=None)
    parser.add_argument("--pipeline", default="default")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=None, help="only the first N questions")
    parser.add_argument("--no-llamaindex", action="store_true", help="skip the LlamaIndex baseline")
    parser.add_argument(
        "--repeats", type=int, default=5, help="random groupings (2 folds each) for the spread"
    )
    parser.add_argument(
        "--fit-targets",
        type=float,
        nargs="+",
        default=list(FIT_TARGETS),
        help="shares of fixed k=10's hits tau is fitted to keep on the fitting folds",
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument(
        "--only", nargs="+", default=None, metavar="SECTION", help="run only these sections"
    )
    parser.add_argument(
        "--rankings",
        type=Path,
        default=None,
        help="latency section: record every call's ranking here, or compare with it",
    )
    args = parser.parse_args()
    if not (args.data / "samples.json").is_file():
        print(f"skipped: {args.data} not found (needs ../shared/data)", file=sys.stderr)
        return 0
    workdir = Path(tempfile.mkdtemp(prefix="mmrag-retrieval-"))
    store = args.store or workdir / "store"
    rag = RAG.open(store, pipeline=args.pipeline)
    if rag.stats().files == 0:
        rag.ingest([args.data / "documents"], show_progress=sys.stderr.isatty())
    examples = [
        e
        for e in from_mmlongbench(args.data / "samples.json")
        if e.evidence and e.evidence[0].pages
    ]
    examples = examples[: args.limit]
    base = rag.config
    fusion_only = {"scorer": None, "page_neighbours": False, "max_per_page": 0}
    figures: dict[str, Any] = {
        "benchmark": "retrieval",
        "pipeline": base.name,
        "data": str(args.data),
        "questions": len(examples),
        "documents": len({Path(e.evidence[0].source).name for e in examples}),
    }
    simple = {
        "a_vector": (
            variant(base, weights={"text_vector": 1.0, "full_text": 0.0}, **fusion_only),
            TEXT,
        ),
        "b_hybrid": (variant(base, **fusion_only), TEXT),
        "c_hybrid_images": (variant(base, **fusion_only), TEXT_AND_SUMMARIES),
        "shipped": (base, TEXT_AND_SUMMARIES),
    }

    def wanted(name: str) -> bool:
        return args.only is None or name in args.only

    for name, (config, kinds) in simple.items():
        if wanted(name):
            ranker = retriever_ranker(Retriever(rag.store, Components(config)), kinds)
            section(figures, name, partial(evaluate, ranker, examples), args.out)
    labelled: list[LabelledQuery] = []  # candidates collected once, for both validations

    def fitted(group: Callable[[LabelledQuery], str]) -> dict[str, Any]:
        if not labelled:
            labelled.extend(collect(rag.retriever, examples))
        return fitted_figures(labelled, base.retrieval, group, args.repeats, args.fit_targets)

    if wanted("grouped_cv"):
        section(figures, "grouped_cv", partial(fitted, document_of), args.out)
    if wanted("question_split_cv"):
        section(figures, "question_split_cv", partial(fitted, question_of), args.out)
    if wanted("shipped_adaptive_vs_fixed_k10"):
        section(
            figures,
            "shipped_adaptive_vs_fixed_k10",
            lambda: adaptive_vs_fixed(rag.retriever, examples),
            args.out,
        )
    from document_routing import routing_figures
    from retrieval_latency import latency_figures

    if wanted("latency"):
        section(
            figures,
            "latency",
            lambda: latency_figures(rag.retriever, examples, args.rankings),
            args.out,
        )
    if wanted("document_routing"):
        section(
            figures,
            "document_routing",
            lambda: routing_figures(rag.store, examples, workdir),
            args.out,
        )
    if not args.no_llamaindex and wanted("llamaindex"):
        section(
            figures,
            "llamaindex",
            lambda: llamaindex_figures(args.data, examples, workdir),
            args.out,
        )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    raise SystemExit(main())
