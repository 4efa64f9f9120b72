"""Features of a (query, candidate) pair, the input of the calibrated relevancy score.

They describe how each retriever saw the candidate (similarity, BM25 relative to the
query's best, rank), its page (how well its page-mates matched), its document (how well
the whole document matched: which report is this about?), what the query says about
pages ("on page 12": the PDF's page, or the number printed on it), how many of the
question's terms the candidate contains, and whether it carries the figure or table the
question names (:mod:`~mmrag.models.relevance.lexical`). All are in [0, 1] so one set of
weights fits every query.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from mmrag.models.relevance.base import Candidates
from mmrag.models.relevance.lexical import coverages, reference_matches
from mmrag.schema import NodeKind, ScoredNode

FEATURES = (
    "text_cos",
    "text_cos_rel",
    "bm25_rel",
    "inv_rank_vector",
    "inv_rank_bm25",
    "both_text_lists",
    "image_cos",
    "page_context",
    "doc_prior",
    "page_mention",
    "is_image",
    "rrf",
    "term_coverage",
    "term_coverage_idf",
    "reference_match",
    "printed_page_mention",
    # A second text embedder's view (all 0 without one): its cosine, relative to the
    # question's best candidate, rank among the candidates, best relative cosine on the
    # candidate's page. all-mpnet-base-v2 beside MiniLM: adaptive k keeps 95% of k=10's
    # hits with 48% of its items instead of 54% (pipeline `mpnet`, grouped by document).
    "second_cos",
    "second_cos_rel",
    "inv_rank_second",
    "second_page_context",
    # Late interaction (all 0 without stored token vectors): MaxSim of the query's and the
    # candidate's token vectors, and relative to the question's best candidate. Adaptive k
    # keeps 95% of k=10's hits with 47% of its items instead of 51% (pipeline `late`).
    "late_maxsim",
    "late_maxsim_rel",
)

#: The columns of the second text embedder's features, and of late interaction's.
_SECOND = slice(FEATURES.index("second_cos"), FEATURES.index("second_page_context") + 1)
_LATE = slice(FEATURES.index("late_maxsim"), FEATURES.index("late_maxsim_rel") + 1)

_PAGE_MENTION = re.compile(r"\b(?:page|slide|p\.)\s*(\d{1,4})\b", re.IGNORECASE)


def mentioned_pages(query: str | None) -> list[int]:
    return [int(m) for m in _PAGE_MENTION.findall(query or "")]


def printed_page_number(text: str | None, numbers: Sequence[int]) -> bool:
    """Does a page's text start or end with one of ``numbers``, as a printed page number
    in its header or footer would ("Graduate Studies & Professional Learning  17")?

    Readers cite the number printed on the page, which often differs from the PDF's own
    page index (covers, front matter, two-page spreads)."""
    body = (text or "").strip()
    return any(re.match(rf"{n}\b", body) or re.search(rf"(?<![\d.,]){n}$", body) for n in numbers)


def feature_matrix(candidates: Candidates, items: Sequence[ScoredNode], rrf_k: int) -> np.ndarray:
    """One row of :data:`FEATURES` per item (items come from fusing ``candidates``)."""
    best_cos = _best(candidates, "text_vector")
    best_bm25 = _best(candidates, "full_text")
    best_doc = max((d.score for d in candidates.documents), default=0.0)
    doc_score = {d.source: d.score / best_doc for d in candidates.documents} if best_doc > 0 else {}
    mentions = mentioned_pages(candidates.query)

    rows = np.zeros((len(items), len(FEATURES)), dtype=np.float32)
    for i, item in enumerate(items):
        s = item.scores
        cos = s.get("text_vector", {}).get("score", 0.0)
        bm25 = s.get("full_text", {}).get("score", 0.0)
        rows[i, 0] = max(cos, 0.0)
        rows[i, 1] = max(cos, 0.0) / best_cos if best_cos > 0 else 0.0
        rows[i, 2] = bm25 / best_bm25 if best_bm25 > 0 else 0.0
        rows[i, 3] = 1.0 / s["text_vector"]["rank"] if "text_vector" in s else 0.0
        rows[i, 4] = 1.0 / s["full_text"]["rank"] if "full_text" in s else 0.0
        rows[i, 5] = float("text_vector" in s and "full_text" in s)
        rows[i, 6] = max(
            s.get("image_vector", {}).get("score", 0.0),
            s.get("text_image", {}).get("score", 0.0),
            0.0,
        )
        rows[i, 8] = doc_score.get(item.node.source, 0.0)
        rows[i, 9] = _mention(item.node.page, mentions)
        rows[i, 10] = float(item.node.kind in (NodeKind.IMAGE, NodeKind.IMAGE_SUMMARY))
        rows[i, 11] = min(1.0, item.score * rrf_k / 2)
    if items:
        texts = [item.node.text for item in items]
        rows[:, 12:14] = coverages(candidates.query, texts)
        rows[:, 14] = reference_matches(candidates.query, texts)
    # How well the item's page matched, through any of its nodes; whether any of its text
    # nodes carries a page number the query mentions.
    rows[:, 7] = _best_on_page(items, (rows[:, 1] + rows[:, 2]) / 2)
    page_printed = {
        (item.node.source, item.node.page)
        for item in items
        if mentions
        and item.node.page is not None
        and item.node.kind == NodeKind.TEXT
        and printed_page_number(item.node.text, mentions)
    }
    rows[:, 15] = [float((item.node.source, item.node.page) in page_printed) for item in items]
    if candidates.second_similarity:
        rows[:, _SECOND] = _second_features(candidates.second_similarity, items)
    if candidates.late_similarity:
        late = np.array([max(candidates.late_similarity.get(i.node.id, 0.0), 0.0) for i in items])
        best = late.max(initial=0.0)
        rows[:, _LATE] = np.column_stack([late, late / best if best > 0 else late])
    return rows


def _second_features(similarity: dict[str, float], items: Sequence[ScoredNode]) -> np.ndarray:
    """Columns ``second_cos`` … ``second_page_context`` of :data:`FEATURES`; items without
    a second vector (images, whose summary node carries their text) get zeros."""
    cos = np.array([max(similarity.get(item.node.id, 0.0), 0.0) for item in items])
    best = cos.max(initial=0.0)
    relative = cos / best if best > 0 else cos
    rank = np.empty(len(cos))
    rank[np.argsort(-cos, kind="stable")] = np.arange(1, len(cos) + 1)
    inverse_rank = np.where(cos > 0, 1.0 / rank, 0.0)
    return np.column_stack([cos, relative, inverse_rank, _best_on_page(items, relative)])


def _best_on_page(items: Sequence[ScoredNode], values: np.ndarray) -> np.ndarray:
    """For each item, the best of ``values`` among the items on its page (an item
    without a page keeps its own value)."""
    best: dict[tuple[str, int], float] = defaultdict(lambda: -np.inf)
    for item, value in zip(items, values, strict=True):
        if item.node.page is not None:
            key = (item.node.source, item.node.page)
            best[key] = max(best[key], float(value))
    return np.array(
        [
            value if item.node.page is None else best[(item.node.source, item.node.page)]
            for item, value in zip(items, values, strict=True)
        ],
        dtype=np.float64,
    )


def _best(candidates: Candidates, name: str) -> float:
    return max((h.score for h in candidates.lists.get(name, [])), default=0.0)


def _mention(page: int | None, mentions: list[int]) -> float:
    if page is None or not mentions:
        return 0.0
    distance = min(abs(page - m) for m in mentions)
    return 1.0 if distance == 0 else 0.5 if distance == 1 else 0.0


def page_key(item: ScoredNode) -> tuple[str, int | None]:
    return (Path(item.node.source).as_posix(), item.node.page)
