"""Search results, and reading several searches' rows at once.

A search over a large table can return row ids and scores first (:class:`RowHits`) and
read the rows' node columns afterwards. The read is a random read per row and column:
on the 1M-node store of ``benchmarks/scale.py``, 50 rows cost ~10 ms, more than the BM25
search that found them (7.5 ms), and a vector search's 50 as much again. A retrieval
runs both searches over one table version and their rows overlap, so
:func:`read_hits` reads the union once (100 rows: ~8 ms).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mmrag.schema import Node
from mmrag.store.tables import NODE_COLUMNS, row_to_node


@dataclass(slots=True)
class Hit:
    """One row returned by a single retriever."""

    node: Node
    score: float


@dataclass(slots=True)
class RowHits:
    """A search's rows of one version of ``table``, best first, not read yet."""

    table: Any
    version: int
    row_ids: list[int]
    scores: list[float]


#: What a search found: hits, or rows still to read with :func:`read_hits`.
Found = list[Hit] | RowHits


def read_hits(found: Sequence[Found]) -> list[list[Hit]] | None:
    """Each search's hits, the rows of those not read yet read together (one read per
    table); None when a table has moved to another version since its search (row ids
    belong to the version they were found in): search again."""
    pending = [f for f in found if isinstance(f, RowHits)]
    nodes: dict[tuple[int, int], Node] = {}
    for table in {id(f.table): f.table for f in pending}.values():
        searches = [f for f in pending if f.table is table]
        version = searches[0].version
        if any(f.version != version for f in searches):
            return None
        row_ids = sorted({r for f in searches for r in f.row_ids})
        rows = table.take_row_ids(row_ids).select(NODE_COLUMNS).with_row_id().to_list()
        # Checked after the read, not before: a version seen afterwards that is still
        # the search's means no commit came between (versions only grow).
        if int(table.version) != version or len(rows) != len(row_ids):
            return None
        nodes |= {(id(table), row.pop("_rowid")): row_to_node(row) for row in rows}
    return [
        f
        if isinstance(f, list)
        else [Hit(nodes[id(f.table), r], s) for r, s in zip(f.row_ids, f.scores, strict=True)]
        for f in found
    ]
