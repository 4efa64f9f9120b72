"""Where a vector search on a large store spends its time: the same LanceDB query with
and without the scope filter, the node columns and the refine step, and what
``Store.vector_search`` does instead (the scope applied after the index walk).

Run on a store kept by ``scale.py --store DIR`` (any nodes table with a text-vector
index). Query vectors are random unit vectors; the filter is the shared corpus plus one
user and the text kinds, as ``Store.vector_search`` sends it. Prints one JSON line of
median milliseconds per case.

    .venv/bin/python benchmarks/scale_breakdown.py --store DIR [--queries 60]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import lancedb
import numpy as np

from mmrag.schema import SHARED_USER, TEXT_SEARCHABLE_KINDS
from mmrag.store import Store
from mmrag.store.filters import all_of, in_list, read_scope
from mmrag.store.indexing import SEARCH
from mmrag.store.tables import NODE_COLUMNS, NODES

LIMIT = 50  # what the retriever asks for


def median_ms(run: Callable[[np.ndarray], Any], queries: list[np.ndarray]) -> float:
    run(queries[0])  # warm
    times = []
    for q in queries[1:]:
        started = time.perf_counter()
        run(q)
        times.append(time.perf_counter() - started)
    return round(1000 * float(np.median(times)), 1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, required=True)
    parser.add_argument("--queries", type=int, default=60)
    parser.add_argument("--user", default="user00007", help="the user whose scope is searched")
    args = parser.parse_args()
    table = lancedb.connect(args.store).open_table(NODES)
    rng = np.random.default_rng(0)
    dim = table.schema.field("text_vector").type.list_size
    raw = rng.standard_normal((args.queries, dim)).astype(np.float32)
    queries = list(raw / np.linalg.norm(raw, axis=1, keepdims=True))
    scope = all_of(read_scope(args.user), in_list("kind", [k.value for k in TEXT_SEARCHABLE_KINDS]))

    def search(
        *, where: str | None, columns: list[str], refine: bool, prefilter: bool = True
    ) -> Callable[[np.ndarray], Any]:
        def run(q: np.ndarray) -> Any:
            query: Any = table.search(q, vector_column_name="text_vector")
            query = query.distance_type("cosine")
            query = query.nprobes(SEARCH.nprobes or 1).limit(LIMIT)
            if refine:
                query = query.ef(max(SEARCH.ef or 0, LIMIT * (SEARCH.refine_factor or 1)))
                query = query.refine_factor(SEARCH.refine_factor or 1)
            else:
                query = query.ef(SEARCH.ef or LIMIT)
            if where:
                query = query.where(where, prefilter=prefilter)
            return query.select([*columns, "_distance"]).to_list()

        return run

    node_columns = list(NODE_COLUMNS)
    cases = {
        "scope prefilter, node columns, refine (mmrag before)": search(
            where=scope, columns=node_columns, refine=True
        ),
        "scope prefilter, id only": search(where=scope, columns=["id"], refine=True),
        "no filter, node columns": search(where=None, columns=node_columns, refine=True),
        "no filter, id only": search(where=None, columns=["id"], refine=True),
        "no filter, id only, no refine": search(where=None, columns=["id"], refine=False),
        "scope as postfilter, id only": search(
            where=scope, columns=["id"], refine=True, prefilter=False
        ),
    }
    store = Store.open(args.store)
    kinds = list(TEXT_SEARCHABLE_KINDS)

    def store_search(q: np.ndarray) -> Any:
        return store.vector_search("text_vector", q, user=args.user, kinds=kinds, limit=LIMIT)

    # What mmrag runs now: the scope applied after the walk where it admits enough
    # rows, survivors ranked exactly, node columns read afterwards (mmrag/store/ann.py).
    cases["Store.vector_search (scope after the walk, exact re-rank, rows read)"] = store_search
    report: dict[str, Any] = {
        "rows": table.count_rows(),
        "scope": f"shared ({SHARED_USER!r}) + {args.user}, text kinds",
        "limit": LIMIT,
        "median_ms": {label: median_ms(run, queries) for label, run in cases.items()},
    }
    filter_only = [table.search().where(scope).select(["id"]).limit(1).to_list]
    started = time.perf_counter()
    for _ in range(20):
        filter_only[0]()
    report["median_ms"]["the scope filter alone (1 row)"] = round(
        1000 * (time.perf_counter() - started) / 20, 1
    )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
