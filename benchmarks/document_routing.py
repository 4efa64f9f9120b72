"""Which document is a question about? The router's rankings (TF-IDF, BM25, fused)
against LanceDB's BM25.

All rank the same stored documents (the store's whole-document texts); BM25 runs on a
LanceDB full-text index built on a copy of them in a scratch folder. Used by
benchmarks/retrieval.py, which reports the share of questions whose gold document comes
first and within the first three, searching the whole corpus.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import lancedb
import pyarrow as pa
from lancedb.index import FTS

from mmrag.evaluate.dataset import Example
from mmrag.retrieve.routing import DOCUMENT_RANKINGS, DocumentRouter
from mmrag.store import Store
from mmrag.store.documents import DOCUMENTS

RankDocuments = Callable[[str], list[str]]


def routing_figures(store: Store, examples: Sequence[Example], workdir: Path) -> dict[str, Any]:
    """Top-1 and top-3 document accuracy of each of the router's rankings and of LanceDB's
    BM25 (the router's own BM25 should come close to it: same formula, its tokeniser)."""
    figures: dict[str, Any] = {}
    for method in DOCUMENT_RANKINGS:
        router = DocumentRouter(store.documents, method=method)
        figures[f"{method}_router"] = _accuracy(
            lambda q, r=router: [h.source for h in r.search(q, user=None, limit=3)], examples
        )
    figures["bm25_lancedb"] = _accuracy(_bm25(store, workdir), examples)
    return figures


def _bm25(store: Store, workdir: Path) -> RankDocuments:
    texts = store.db.open_table(DOCUMENTS).search().select(["source", "text"]).limit(None)
    texts = texts.to_arrow()
    table = lancedb.connect(workdir / "bm25-documents").create_table(
        "documents", pa.table({"source": texts["source"], "text": texts["text"]})
    )
    table.create_index("text", config=FTS(with_position=False))

    def rank(question: str) -> list[str]:
        rows = table.search(question, query_type="fts").select(["source", "_score"]).limit(3)
        rows = rows.to_list()
        return [r["source"] for r in rows]

    return rank


def _accuracy(rank: RankDocuments, examples: Sequence[Example]) -> dict[str, float]:
    first = within_three = 0
    for example in examples:
        names = [Path(s).name for s in rank(example.question)]
        gold = Path(example.evidence[0].source).name
        first += names[:1] == [gold]
        within_three += gold in names[:3]
    n = max(len(examples), 1)
    return {"top1": round(first / n, 3), "top3": round(within_three / n, 3)}
