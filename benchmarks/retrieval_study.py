"""Which parts of the relevancy score carry over to documents it was not fitted on?

All figures are cross-validated grouped by document (2 folds of whole PDFs, --repeats
random groupings, the same groupings for every variant so differences are paired), on
candidates collected once. Prints one JSON line with page hit@5 per scope (mean, sd) of:

  all             every feature, the shipped L2 strength (and adaptive k for each
                    in-sample fit target of tau)
  without/<f>     each feature left out (its weight 0): a feature whose removal does not
                    hurt on unseen documents is not worth its weight
  l2/<x>          the ranking weights' L2 strength
  ranking/<m>     the document prior from TF-IDF, BM25 or both fused (corpus scope; the
                    within-document search has one document, so its prior is constant)

and per ranking the share of corpus-wide questions whose document comes first.

    .venv/bin/python benchmarks/retrieval_study.py --store DIR [--limit N] [--repeats N]
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mmrag import RAG
from mmrag.components import Components
from mmrag.config import RetrievalConfig
from mmrag.evaluate.dataset import from_mmlongbench
from mmrag.models.relevance.features import FEATURES
from mmrag.retrieve import Retriever
from mmrag.retrieve.routing import DOCUMENT_RANKINGS, DocumentRouter
from mmrag.retrieve.tuning import DEFAULT_L2, FIT_TARGETS, LabelledQuery, collect
from mmrag.retrieve.validation import RANKING_ONLY, Fitting, cross_validate

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mmlongbench_doc"
L2_GRID = (1e-4, 1e-3, 1e-2, 3e-2, 0.1, 0.3)
SHOWN = ("hit@1", "hit@5", "hit@5_sd", "mrr", "hit_kept", "items_ratio")
ADAPTIVE = ("hit_kept", "hit_kept_sd", "items_ratio", "items_ratio_sd")


def grouped(
    queries: Sequence[LabelledQuery], settings: RetrievalConfig, fitting: Fitting, repeats: int
) -> dict[str, dict[str, float]]:
    results = cross_validate(queries, settings, fitting, repeats=repeats)
    by_scope = results[(*fitting.fit_targets, RANKING_ONLY)[0]]
    return {scope: {k: f[k] for k in SHOWN if k in f} for scope, f in by_scope.items()}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--pipeline", default="default")
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip", nargs="*", default=(), help="ablation, l2 and/or ranking")
    parser.add_argument(
        "--cache", type=Path, default=None, help="keep the collected candidates here for reruns"
    )
    args = parser.parse_args()
    if not (args.data / "samples.json").is_file():
        print(f"skipped: {args.data} not found (needs ../shared/data)", file=sys.stderr)
        return 0
    rag = RAG.open(args.store, pipeline=args.pipeline, create=False)
    examples = [
        e
        for e in from_mmlongbench(args.data / "samples.json")
        if e.evidence and e.evidence[0].pages
    ][: args.limit]
    settings = rag.config.retrieval
    if args.cache and args.cache.is_file():
        queries = pickle.loads(args.cache.read_bytes())  # written by this script, below
    else:
        queries = collect(rag.retriever, examples)
        if args.cache:
            args.cache.write_bytes(pickle.dumps(queries))
    base = Fitting()
    figures: dict[str, Any] = {"benchmark": "retrieval_study", "questions": len(examples)}
    every_target = cross_validate(
        queries, settings, Fitting(fit_targets=FIT_TARGETS), repeats=args.repeats
    )
    figures["all"] = {
        scope: {k: f[k] for k in SHOWN} for scope, f in every_target[FIT_TARGETS[0]].items()
    }
    print("all", figures["all"], file=sys.stderr)
    figures["fit_targets"] = {
        str(t): {scope: {k: f[k] for k in ADAPTIVE} for scope, f in by_scope.items()}
        for t, by_scope in every_target.items()
    }
    print("fit targets", figures["fit_targets"], file=sys.stderr)
    if "l2" not in args.skip:
        for l2 in L2_GRID:
            figures[f"l2/{l2:g}"] = grouped(queries, settings, Fitting(l2=l2), args.repeats)
            print(l2, figures[f"l2/{l2:g}"], file=sys.stderr)
    if "ranking" not in args.skip:
        within = [q for q in queries if q.scope == "document"]
        for method in DOCUMENT_RANKINGS:
            retriever = Retriever(rag.store, Components(rag.config))
            if retriever.router.method == method:  # what the candidates were collected with
                corpus = [q for q in queries if q.scope == "corpus"]
            else:
                retriever.router.method = method
                corpus = collect(retriever, examples, scopes=("corpus",))
            if args.cache:
                args.cache.with_suffix(f".{method}.pkl").write_bytes(pickle.dumps(within + corpus))
            router = DocumentRouter(rag.store.documents, method)
            first = sum(
                [Path(h.source).name for h in router.search(e.question, user=None, limit=1)]
                == [Path(e.evidence[0].source).name]
                for e in examples
            )
            figures[f"ranking/{method}"] = {
                **grouped(within + corpus, settings, base, args.repeats),
                "document_top1": round(first / max(len(examples), 1), 3),
            }
            print(method, figures[f"ranking/{method}"], file=sys.stderr)
    if "ablation" not in args.skip:
        for feature in FEATURES:
            kept = tuple(f for f in FEATURES if f != feature)
            figures[f"without/{feature}"] = grouped(
                queries, settings, Fitting(features=kept, fit_targets=()), args.repeats
            )
            print(feature, figures[f"without/{feature}"], file=sys.stderr)
    figures["l2_shipped"] = DEFAULT_L2
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
