"""Flickr8k caption -> photo search without CLIP: before and after ``mmrag align``.

The photos are split by photo into a fitted half and a searched half (several seeded
splits; mean ± sd). The map is fitted on the captions of the fitted photos only, its
method and regularisation chosen by cross-validation inside them; the searched photos'
captions are the queries. Three figures per split:

- ``map``: the map alone, ranking the searched photos (all 5 captions of each);
- ``pipeline``: the offline default pipeline end to end (``rag.search``, k=10), before
  (no map: ImageNet tags in the image summaries), after (map stored without its
  calibration: its candidates join the fusion only) and calibrated (map stored with the
  calibration ``mmrag align fit`` stores: the map's P(relevant) merged into the relevancy
  score), on the first caption of each searched photo as ``mmrag eval`` asks it, among
  the searched photos (``pool: held``) and among all photos (``pool: all``: the fitted
  photos are distractors too, as the committed report's 0.156 counts).

The calibration is fitted as ``mmrag align fit`` would on a store where only the fitted
photos have captions: folds grouped by photo over all the store's photos (the uncaptioned
ones are distractors, never queries), the searched photos' captions never seen.

The store is the default pipeline's ingest of the photo folder (built once; the map it
holds is replaced on each split and removed at the end). Caption vectors are cached.

    flock /tmp/bench.lock .venv/bin/python benchmarks/align.py --store bench-out/flickr8k
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from mmrag.align import Pairs, fit, hit_rates
from mmrag.align.calibrate import fit_calibration
from mmrag.align.pairs import stored_images
from mmrag.align.storage import ALIGN, AlignMap, save_map
from mmrag.api import RAG
from mmrag.retrieve.filters import SearchFilter

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "flickr8k"
KS = (1, 5, 10)


def captions(data: Path) -> dict[str, list[str]]:
    rows: dict[str, list[str]] = {}
    with (data / "captions.csv").open(encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            rows.setdefault(row["image"], []).append(row["caption"].strip())
    return rows


def caption_vectors(rag: RAG, texts: list[str], cache: Path) -> np.ndarray:
    if cache.is_file():
        cached = np.load(cache)
        if cached.shape[0] == len(texts):
            return np.asarray(cached, dtype=np.float32)
    vectors = np.asarray(rag.components.text_embedder.embed(texts, is_query=True), np.float32)
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.save(cache, vectors)
    return vectors


def pipeline_hits(rag: RAG, queries: list[tuple[str, str]], pool: list[str] | None) -> dict:
    """hit@k of rag.search over (caption, gold file name) queries, optionally within a pool."""
    filters = SearchFilter(sources=tuple(pool)) if pool else None
    ranks = []
    for caption, gold in queries:
        items = rag.search(caption, k=10, filters=filters)
        names = [Path(i.node.source).name for i in items]
        ranks.append(names.index(gold) if gold in names else 99)
    return {f"hit@{k}": float(np.mean(np.asarray(ranks) < k)) for k in KS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=Path("bench-out/flickr8k"))
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--splits", type=int, default=3)
    parser.add_argument("--held", type=float, default=0.5, help="share of photos searched")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default="ridge,contrastive")
    parser.add_argument("--no-pipeline", action="store_true", help="only the map's figures")
    args = parser.parse_args()
    if not (args.data / "captions.csv").is_file():
        print(json.dumps({"skipped": f"no Flickr8k at {args.data}"}))
        sys.exit(0)
    rag = RAG.open(args.store, pipeline="default")
    if not rag.store.has_nodes:
        rag.ingest([args.data / "images"])
    by_name = captions(args.data)
    images = [im for im in stored_images(rag.store, None) if Path(im.source).name in by_name]
    names = [Path(im.source).name for im in images]
    texts = [c for name in names for c in by_name[name]]
    owner = np.asarray([i for i, name in enumerate(names) for _ in by_name[name]], np.int64)
    vectors = caption_vectors(rag, texts, args.store.parent / "flickr8k-align-captions.npy")
    pairs = Pairs(np.stack([im.features for im in images]), vectors, owner)
    first = {name: by_name[name][0] for name in names}

    rng = np.random.default_rng(args.seed)
    held_n = round(len(images) * args.held)
    per_split: list[dict[str, Any]] = []
    for split in range(args.splits):
        order = rng.permutation(len(images))
        held, fitted_on = order[:held_n], order[held_n:]
        fitted = fit(pairs.subset(fitted_on), methods=args.methods.split(","), seed=split)
        result: dict[str, Any] = {
            "method": f"{fitted.method}:{fitted.regularisation:g}",
            "cv_hit@5": fitted.cv,
            "map": hit_rates(fitted.matrix, pairs.subset(held), ks=KS),
        }
        if not args.no_pipeline:
            held_names = [names[i] for i in held]
            queries = [(first[n], n) for n in held_names]
            rag.store.db.drop_table(ALIGN, ignore_missing=True)
            rag = RAG.open(args.store)  # a fresh handle: no map cached
            before = {
                p: pipeline_hits(rag, queries, held_names if p == "held" else None)
                for p in ("held", "all")
            }
            image = rag.components.image_embedder
            assert image is not None
            text = rag.components.text_embedder
            save_map(rag.store, AlignMap(fitted.matrix, image.name, text.name))
            rag = RAG.open(args.store)
            after = {
                p: pipeline_hits(rag, queries, held_names if p == "held" else None)
                for p in ("held", "all")
            }
            fitted_rows = np.isin(pairs.images, fitted_on)
            captioned = Pairs(pairs.features, pairs.texts[fitted_rows], pairs.images[fitted_rows])
            calibration = fit_calibration(
                captioned, fitted.matrix, fitted.method, fitted.regularisation, seed=split
            )
            assert calibration is not None
            save_map(
                rag.store,
                AlignMap(fitted.matrix, image.name, text.name, calibration=calibration),
            )
            rag = RAG.open(args.store)
            calibrated = {
                p: pipeline_hits(rag, queries, held_names if p == "held" else None)
                for p in ("held", "all")
            }
            result |= {
                "calibration": calibration.to_dict(),
                "pipeline_before": before,
                "pipeline_after": after,
                "pipeline_calibrated": calibrated,
            }
        per_split.append(result)
        print(json.dumps({"split": split, **result}), file=sys.stderr)
    rag.store.db.drop_table(ALIGN, ignore_missing=True)

    def summary(path: tuple[str, ...]) -> dict[str, str]:
        values = []
        for r in per_split:
            node: Any = r
            for key in path:
                node = node[key]
            values.append(node)
        return {
            k: f"{np.mean([v[k] for v in values]):.3f} ± {np.std([v[k] for v in values]):.3f}"
            for k in values[0]
        }

    out: dict[str, Any] = {
        "benchmark": "align",
        "dataset": "flickr8k",
        "photos": len(images),
        "captions": len(texts),
        "split": f"by photo: {held_n} searched, {len(images) - held_n} fitted on "
        f"({len(pairs.subset(order[held_n:]).texts)} caption pairs); {args.splits} "
        f"seeded splits (seed {args.seed}), mean ± sd",
        "methods_chosen": [r["method"] for r in per_split],
        "map_all_captions_among_held": summary(("map",)),
    }
    if not args.no_pipeline:
        for when in ("before", "after", "calibrated"):
            for pool in ("held", "all"):
                out[f"pipeline_{when}_first_caption_pool_{pool}"] = summary(
                    (f"pipeline_{when}", pool)
                )
    print(json.dumps(out))


if __name__ == "__main__":
    main()
