"""A copy of a store whose nodes also carry a second embedder's vectors, as an ingest with
that pipeline would have stored them, without re-reading the files (OCR of the dev PDFs
is most of an ingest's time).

The same texts are embedded as at ingest (``gets_text_vectors``),
with the pipeline's ``second_embedder``; the copy's nodes table is rewritten with the
extra column, its indexes rebuilt, and its metadata names the pipeline. The source store
is not touched.

    MMRAG_CACHE_DIR=… .venv/bin/python benchmarks/second_vectors.py \\
        --from bench-out/mmlongbench --to bench-out/mmlongbench-mpnet --pipeline mpnet

Measured: the MMLongBench-Doc dev store's 9,005 texts took 1,990 s with all-mpnet-base-v2
on 2 cores (half of it beside another job). Then ``retrieval_study.py --store COPY
--pipeline mpnet``.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

from mmrag.components import Components
from mmrag.config import load_pipeline
from mmrag.ingest.enrich import gets_text_vectors
from mmrag.pipeline_record import pipeline_record
from mmrag.schema import NodeKind
from mmrag.store import Store
from mmrag.store.tables import NODES, SECOND_VECTOR


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--from", dest="source", type=Path, required=True)
    parser.add_argument("--to", dest="target", type=Path, required=True)
    parser.add_argument("--pipeline", default="mpnet", help="one that names a second_embedder")
    args = parser.parse_args()
    config = load_pipeline(args.pipeline)
    components = Components(config)
    second = components.second_embedder
    if second is None:
        print(f"pipeline '{args.pipeline}' has no second_embedder", file=sys.stderr)
        return 2
    if args.target.exists():
        print(f"{args.target} exists; choose a new folder", file=sys.stderr)
        return 2
    shutil.copytree(args.source, args.target)
    store = Store.open(args.target)
    rows = store._nodes_table().to_arrow()
    if SECOND_VECTOR in rows.schema.names:
        print(f"{args.source} already holds second vectors", file=sys.stderr)
        return 2
    texts = rows.column("text").to_pylist()
    kinds = rows.column("kind").to_pylist()
    todo = [
        i
        for i, (text, kind) in enumerate(zip(texts, kinds, strict=True))
        if gets_text_vectors(NodeKind(kind), text)
    ]
    started = time.perf_counter()
    vectors = second.embed([texts[i] for i in todo]).astype(np.float32)
    seconds = time.perf_counter() - started
    column: list[list[float] | None] = [None] * rows.num_rows
    for i, vector in zip(todo, vectors, strict=True):
        column[i] = vector.tolist()
    field = pa.field(SECOND_VECTOR, pa.list_(pa.float32(), second.dim))
    # Where nodes_schema puts it: after the first embedder's vectors (and inline images').
    after = max(rows.schema.get_field_index(c) for c in ("text_vector", "image_vector"))
    rows = rows.add_column(after + 1, field, pa.array(column, type=field.type))
    store.db.drop_table(NODES)
    # Null vectors (image nodes) are what they were; "null" keeps LanceDB from refusing them.
    store.db.create_table(NODES, schema=rows.schema).add(rows, on_bad_vectors="null")
    store._nodes = None
    store.refresh_indexes()
    # The store keeps its creation record; only the pipeline and the new embedder change.
    store.set_meta(
        pipeline_record(config, components, args.pipeline, first=False)
        | {"second_embedder": second.name, "second_dim": second.dim}
    )
    print(
        f'{{"benchmark": "second_vectors", "texts": {len(todo)}, "seconds": {seconds:.0f}, '
        f'"embedder": "{second.name}"}}'
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
