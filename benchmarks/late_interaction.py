"""Would a finer text similarity separate relevant candidates better (issue 17, item 4)?

Signals, each read for every candidate of every question and given to the
relevancy score as the two late-interaction features (``late_maxsim``: the value,
``late_maxsim_rel``: relative to the question's best candidate), then cross-validated
grouped by document exactly as ``retrieval_study.py`` does, on the same collected
candidates:

  maxsim        late interaction (ColBERT's MaxSim) with MiniLM's own token vectors:
                  for each question token its best cosine among the candidate's tokens,
                  averaged over the question's tokens (what pipeline ``late`` stores)
  maxsim_8bit   the same with the candidates' token vectors as pipeline ``late`` stores
                  them (8 bits a dimension and a float16 scale: 386 bytes a token)
  maxsim_1bit   the same with each candidate token vector kept as its signs (48 bytes a
                  token)
  pruned_punct  maxsim_8bit with the candidates' punctuation tokens left out (ColBERT
                  masks them in documents): fewer bytes to store and read
  pruned_stop   the same, and function words (the, of, is, ...) left out too
  pooled_N      maxsim_8bit with each candidate's token vectors pooled N to 1: Ward
                  clustering into ceil(n / N) groups, each stored as its unit mean (token
                  pooling, Clavie et al. 2024): N times fewer bytes to store and read
  query_content maxsim_8bit over the question's content tokens only (punctuation and
                  function words left out of the question, not of the store): free
  query_idf     maxsim_8bit with each question token's best cosine weighted by its
                  word piece's IDF over the candidates' texts (a corpus statistic, as
                  BM25's, that a store would keep a table of)
  query_idf_local  the same with the IDF over the question's own candidates (no
                  corpus statistic to keep: their texts are at hand at query time)
  sentences     the best cosine between the question and any sentence of the candidate
                  (MiniLM sentence vectors: several vectors per chunk instead of one)

Prints one JSON line: per variant, per fit target of tau and per scope, page hit@5 and
adaptive k's share of fixed k=10's hits and items on documents left out (mean and sd
over the groupings), and the fit target ``mmrag tune`` would pick (the smallest keeping
>= 95% of the hits in both scopes) with its figures.

    python benchmarks/retrieval_study.py --store DIR --cache CAND.pkl --skip ablation l2 ranking
    python benchmarks/late_interaction.py --cache CAND.pkl [--repeats 30]

With ``--group-by-type …/samples.json`` whole document types are left out instead of
documents: a harder test of what unseen kinds of documents would do.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
import re
import sys
import time
from collections.abc import Callable, Sequence
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from mmrag.components import Components
from mmrag.config import RetrievalConfig, load_pipeline
from mmrag.models.relevance.features import FEATURES
from mmrag.models.relevance.late_interaction import maxsim
from mmrag.retrieve.tuning import LabelledQuery
from mmrag.retrieve.validation import Fitting, choose_fit_target, cross_validate, document_of
from mmrag.store.token_vectors import pack, unpack

TARGETS = (0.96, 0.965, 0.97, 0.975)
VARIANTS = (
    "none",
    "maxsim",
    "maxsim_8bit",
    "maxsim_1bit",
    "pruned_punct",
    "pruned_stop",
    "pooled_2",
    "pooled_4",
    "pooled_8",
    "query_content",
    "query_idf",
    "query_idf_local",
    "sentences",
)
#: Function words: a fixed English list, not fitted to any data.
_FUNCTION_WORDS = (
    "a an the of in on at to for from by with as into onto about than then and or but "
    "nor so if is are was were be been being am do does did has have had having it its "
    "this that these those there here which who whom whose what i me my we our you your "
    "he him his she her they them their can could may might must shall should will would "
    "also such"
)
FUNCTION_WORDS = frozenset(_FUNCTION_WORDS.split())
SHOWN = ("hit@5", "hit_kept", "hit_kept_sd", "items_ratio", "items_ratio_sd")
VALUE, RELATIVE = FEATURES.index("late_maxsim"), FEATURES.index("late_maxsim_rel")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def one_bit(tokens: np.ndarray) -> np.ndarray:
    """Each vector as its signs, scaled to unit length."""
    return np.sign(tokens) / np.sqrt(tokens.shape[1])


def sentences(text: str) -> list[str]:
    parts = [p.strip() for p in _SENTENCE_END.split(text)]
    return [p for p in parts if len(p) > 3] or [text]


def with_signal(query: LabelledQuery, values: np.ndarray) -> np.ndarray:
    """The query's features with ``values`` (one per candidate) as the signal under study."""
    features = query.features.copy()
    best = values.max(initial=0.0)
    features[:, VALUE] = np.maximum(values, 0.0)
    features[:, RELATIVE] = np.maximum(values, 0.0) / best if best > 0 else 0.0
    return features


@cache
def minilm() -> Components:
    """Pipeline ``late``'s models (loaded once): its MiniLM and its token vectors."""
    return Components(load_pipeline("late"))


def token_vectors(texts: Sequence[str]) -> list[np.ndarray]:
    """Unit token vectors of each text, as pipeline ``late`` computes them, in float16."""
    embedder = minilm().token_embedder
    assert embedder is not None  # the pipeline keeps token vectors
    return [t.astype(np.float16) for t in embedder.embed_tokens(texts)]


@cache
def kept_tokens(text: str, *, function_words: bool) -> np.ndarray:
    """Which of ``text``'s token vectors a pruned store keeps: not punctuation-only
    tokens, nor (``function_words``) single-piece function words."""
    tokenizer = minilm().text_embedder._model.tokenizer  # type: ignore[attr-defined]
    names = tokenizer.convert_ids_to_tokens(list(pieces(text)))
    keep = []
    for i, piece in enumerate(names):
        whole = not piece.startswith("##") and not (
            i + 1 < len(names) and names[i + 1].startswith("##")
        )
        punctuation = not any(ch.isalnum() for ch in piece)
        keep.append(not punctuation and not (function_words and whole and piece in FUNCTION_WORDS))
    return np.array(keep, dtype=bool)


def pooled(tokens: np.ndarray, factor: int) -> np.ndarray:
    """``tokens`` pooled ``factor`` to 1: Ward clusters, each as its unit-length mean."""
    from scipy.cluster.hierarchy import fcluster, linkage

    groups = -(-len(tokens) // factor)
    if len(tokens) < 2 or groups >= len(tokens):
        return tokens
    labels = fcluster(linkage(tokens, method="ward"), t=groups, criterion="maxclust")
    means = np.stack([tokens[labels == label].mean(axis=0) for label in np.unique(labels)])
    out: np.ndarray = means / np.linalg.norm(means, axis=1, keepdims=True)
    return out


def sentence_vectors(texts: Sequence[str]) -> list[np.ndarray]:
    """Unit MiniLM vectors of each text's sentences."""
    split = [sentences(text) for text in texts]
    flat = minilm().text_embedder.embed([p for part in split for p in part])
    bounds = np.cumsum([0] + [len(part) for part in split])
    return [flat[a:b].astype(np.float16) for a, b in itertools.pairwise(bounds)]


def signals(
    queries: Sequence[LabelledQuery], vectors: Callable[[Sequence[str]], list[np.ndarray]]
) -> dict[str, np.ndarray]:
    """``vectors`` of each question (key ``q:<question>``) and each candidate (its id)."""
    texts: dict[str, str] = {}
    for q in queries:
        texts[f"q:{q.example.question}"] = q.example.question
        texts.update({item.node.id: item.node.text for item in q.items if item.node.text})
    return dict(zip(texts, vectors(list(texts.values())), strict=True))


@cache
def pieces(text: str) -> tuple[int, ...]:
    """``text``'s word-piece ids, as its token vectors are ordered (a candidate meets
    many questions: tokenised once)."""
    return tuple(minilm().text_embedder.tokenize(text))


#: IDF of each word piece over the candidates' distinct texts (filled by main).
piece_idf: dict[int, float] = {}


def fill_piece_idf(queries: Sequence[LabelledQuery]) -> None:
    texts = {item.node.id: item.node.text for q in queries for item in q.items if item.node.text}
    counts: dict[int, int] = {}
    for text in texts.values():
        for piece in set(pieces(text)):
            counts[piece] = counts.get(piece, 0) + 1
    total = len(texts)
    piece_idf.update({p: float(np.log((total + 1) / (c + 1)) + 1) for p, c in counts.items()})


def weighted_maxsim(asked: np.ndarray, tokens: np.ndarray, weights: np.ndarray) -> float:
    if len(asked) == 0 or len(tokens) == 0 or weights.sum() <= 0:
        return 0.0
    best = (asked @ tokens.T).max(axis=1)
    return float((weights * best).sum() / weights.sum())


#: Share of each candidate's tokens a pruned variant left out.
pruned_share: list[float] = []


def values(query: LabelledQuery, vectors: dict[str, np.ndarray], variant: str) -> np.ndarray:
    asked = vectors[f"q:{query.example.question}"].astype(np.float32)
    weights = np.ones(len(asked))
    if variant == "query_content":
        keep = kept_tokens(query.example.question, function_words=True)[: len(asked)]
        weights = keep.astype(float) if keep.any() else weights
    elif variant == "query_idf":
        ids = pieces(query.example.question)[: len(asked)]
        rarest = max(piece_idf.values())  # a piece no candidate has
        weights = np.array([piece_idf.get(p, rarest) for p in ids])
    elif variant == "query_idf_local":
        ids = pieces(query.example.question)[: len(asked)]
        texts = [set(pieces(item.node.text)) for item in query.items if item.node.text]
        weights = np.array(
            [np.log((len(texts) + 1) / (sum(p in t for t in texts) + 1)) + 1 for p in ids]
        )
    out = np.zeros(len(query.items))
    for i, item in enumerate(query.items):
        found = vectors.get(item.node.id)
        if found is None:
            continue
        tokens = found.astype(np.float32)
        if variant.startswith("pruned_"):
            mask = kept_tokens(item.node.text, function_words=variant == "pruned_stop")
            tokens = tokens[mask[: len(tokens)]] if len(mask) >= len(tokens) else tokens
            pruned_share.append(1.0 - len(tokens) / max(len(found), 1))
            out[i] = maxsim(asked, unpack(pack(tokens), tokens.shape[1]))
        elif variant.startswith("pooled_"):
            tokens = pooled(tokens, int(variant.removeprefix("pooled_")))
            pruned_share.append(1.0 - len(tokens) / max(len(found), 1))
            out[i] = maxsim(asked, unpack(pack(tokens), tokens.shape[1]))
        elif variant.startswith("query_"):
            out[i] = weighted_maxsim(asked, unpack(pack(tokens), tokens.shape[1]), weights)
        elif variant == "sentences":
            out[i] = float((asked @ tokens.T).max())
        elif variant == "maxsim_8bit":
            out[i] = maxsim(asked, unpack(pack(tokens), tokens.shape[1]))
        else:
            out[i] = maxsim(asked, one_bit(tokens) if variant == "maxsim_1bit" else tokens)
    return out


def type_of(samples: Path) -> Callable[[LabelledQuery], str]:
    """The grouping by document type that ``samples`` (MMLongBench-Doc's samples.json:
    doc_id and doc_type per question) gives each question's document."""
    kinds = {s["doc_id"]: s["doc_type"] for s in json.loads(samples.read_text("utf-8"))}

    def group(query: LabelledQuery) -> str:
        document = document_of(query)
        return str(kinds.get(document, document))

    return group


def validated(
    scored: Sequence[LabelledQuery],
    settings: RetrievalConfig,
    repeats: int,
    group: Callable[[LabelledQuery], str] = document_of,
) -> dict[str, Any]:
    """Grouped cross-validation of ``scored`` at each of :data:`TARGETS`: the fit target
    ``mmrag tune`` would pick and the :data:`SHOWN` figures, per target and scope."""
    results = cross_validate(
        scored, settings, Fitting(fit_targets=TARGETS), repeats=repeats, group=group
    )
    chosen = choose_fit_target(results, 0.95)
    return {
        "chosen_target": chosen,
        "chosen": {s: {k: f[k] for k in SHOWN} for s, f in results[chosen].items()},
        "targets": {
            str(t): {s: {k: f[k] for k in SHOWN} for s, f in by_scope.items()}
            for t, by_scope in results.items()
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cache", type=Path, required=True, help="retrieval_study.py --cache")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--variants", nargs="*", default=VARIANTS, choices=VARIANTS)
    parser.add_argument(
        "--group-by-type",
        type=Path,
        metavar="SAMPLES_JSON",
        help="leave whole document types out (their doc_type in this MMLongBench-Doc "
        "samples file: research report, academic paper, ...) instead of documents",
    )
    args = parser.parse_args()
    if not args.cache.is_file():
        print(f"skipped: {args.cache} not found (run retrieval_study.py --cache)", file=sys.stderr)
        return 0
    queries: list[LabelledQuery] = pickle.loads(args.cache.read_bytes())  # our own file
    if any(q.features[:, [VALUE, RELATIVE]].any() for q in queries):
        print(
            "the candidates carry late-interaction features already; collect them with "
            "a pipeline without late_interaction",
            file=sys.stderr,
        )
        return 2
    settings = load_pipeline("default").retrieval
    group = document_of if args.group_by_type is None else type_of(args.group_by_type)
    figures: dict[str, Any] = {
        "benchmark": "late_interaction",
        "questions": len(queries) // 2,
        "grouped_by": "document" if args.group_by_type is None else "document type",
    }
    encoded: dict[str, dict[str, np.ndarray]] = {}
    if "query_idf" in args.variants:
        fill_piece_idf(queries)
    for variant in args.variants:
        started = time.perf_counter()
        if variant == "none":
            scored = queries
        else:
            kind = "sentences" if variant == "sentences" else "tokens"
            if kind not in encoded:
                encoded[kind] = signals(
                    queries, sentence_vectors if kind == "sentences" else token_vectors
                )
            scored = [
                LabelledQuery(
                    q.example,
                    q.scope,
                    q.items,
                    with_signal(q, values(q, encoded[kind], variant)),
                    q.labels,
                )
                for q in queries
            ]
        figures[variant] = validated(scored, settings, args.repeats, group)
        figures[variant]["seconds"] = round(time.perf_counter() - started, 1)
        if pruned_share:
            figures[variant]["tokens_left_out"] = round(float(np.mean(pruned_share)), 3)
            pruned_share.clear()
        print(
            variant, figures[variant]["chosen_target"], figures[variant]["chosen"], file=sys.stderr
        )
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
