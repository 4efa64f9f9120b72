"""Retrieval: fusion, filters, relevancy scores, adaptive k, page diversity, re-ranking."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from mmrag import RAG
from mmrag.errors import ConfigError
from mmrag.models.mllm import Capabilities, Generation, GenerationOptions, Message, TokenLogprob
from mmrag.models.relevance import Candidates, relevancy_scorers
from mmrag.models.relevance.features import (
    FEATURES,
    feature_matrix,
    mentioned_pages,
    printed_page_number,
)
from mmrag.models.relevance.mllm_judge import MLLMJudgeConfig, MLLMJudgeScorer, p_yes
from mmrag.retrieve import SearchFilter, parse_pages, reciprocal_rank_fusion
from mmrag.retrieve.selection import adaptive_k, limit_per_page, with_page_text
from mmrag.schema import Node, NodeKind, ScoredNode
from mmrag.store import Hit
from tests.conftest import fast_pipeline, make_pdf


def node(
    i: str,
    *,
    kind: NodeKind = NodeKind.TEXT,
    page: int | None = 1,
    image_id: str | None = None,
    source: str = "/d/a.pdf",
    text: str = "",
) -> Node:
    return Node(
        id=i, kind=kind, doc_id="d", source=source, page=page, image_id=image_id, text=text or i
    )


def scored(n: Node, s: float) -> ScoredNode:
    return ScoredNode(n, s)


# -- fusion, selection, filters ---------------------------------------------------------


def test_rrf_groups_an_image_with_its_summary_and_weights_lists() -> None:
    img = node("img", kind=NodeKind.IMAGE, image_id="x")
    summ = node("sum", kind=NodeKind.IMAGE_SUMMARY, image_id="x")
    text = node("t")
    fused = reciprocal_rank_fusion(
        {"full_text": [Hit(summ, 3.0), Hit(text, 2.0)], "image_vector": [Hit(img, 0.9)]},
        weights={"full_text": 1.0, "image_vector": 2.0},
        rrf_k=60,
    )
    assert [f.node.id for f in fused] == ["sum", "t"]
    assert fused[0].score == pytest.approx(1 / 61 + 2 / 61)
    assert set(fused[0].scores) == {"full_text", "image_vector"}
    muted = reciprocal_rank_fusion({"full_text": [Hit(text, 1.0)]}, weights={"full_text": 0.0})
    assert muted == []


def test_adaptive_k_keeps_up_to_k_max_above_tau() -> None:
    items = [scored(node(str(i)), s) for i, s in enumerate([0.9, 0.8, 0.4, 0.3, 0.1])]

    def kept(tau: float, k_min: int = 1, k_max: int = 10, relative: float = 0.0) -> int:
        chosen = adaptive_k(
            items, tau=tau, k_min=k_min, k_max=k_max, relative=relative, rule="threshold"
        )
        return len(chosen)

    assert kept(0.5) == 2
    assert kept(0.95) == 1  # at least k_min
    assert kept(0.0, k_max=3) == 3  # at most k_max
    assert kept(0.95, k_min=0, k_max=3) == 0
    # A bar relative to the best score: 0.5 x 0.9 keeps 0.9 and 0.8.
    assert kept(0.0, relative=0.5) == 2
    assert adaptive_k([], tau=0.0, k_min=1, k_max=10, relative=0.5, rule="threshold") == []


def test_choose_tau_uses_a_relative_bar_when_scores_differ_by_question() -> None:
    from dataclasses import replace

    import numpy as np

    from mmrag.evaluate.dataset import Example
    from mmrag.retrieve.tuning import LabelledQuery, choose_tau, outcome

    def query(name: str, scores: list[float], relevant: int) -> LabelledQuery:
        items = [scored(node(f"{name}{i}", page=i + 1), s) for i, s in enumerate(scores)]
        labels = np.array([i == relevant for i in range(len(scores))], dtype=np.int8)
        example = Example(id=name, question=name)
        return LabelledQuery(example, "document", items, np.zeros((len(items), 1)), labels)

    # Question a scores high throughout, question b low; each has its answer second.
    high = [0.95, 0.9, 0.4, 0.38, 0.36, 0.34, 0.2, 0.2, 0.2, 0.2]
    low = [0.3, 0.28, 0.05, 0.04, 0.03, 0.02, 0.02, 0.01, 0.01, 0.01]
    queries = [query("a", high, 1), query("b", low, 1)]
    scores = [np.array(high), np.array(low)]
    settings = {"k_min": 1, "k_max": 10, "max_per_page": 1, "min_hit_ratio": 1.0}
    absolute = choose_tau(queries, scores, rule="threshold", relative_grid=(0.0,), **settings)
    both = choose_tau(queries, scores, rule="threshold", **settings)
    assert absolute.hit_rate == both.hit_rate == 1.0
    assert absolute.mean_items == 4.0  # b needs tau <= 0.28, which keeps six of a's items
    assert both.relative > 0 and both.mean_items == 2.0
    # The marginal rule needs no second bar: after a's likely first two items the rest add
    # little, while b's low scores leave the hit open for longer.
    marginal = choose_tau(queries, scores, rule="marginal", **settings)
    assert marginal.rule == "marginal" and marginal.hit_rate == 1.0
    assert marginal.mean_items <= 3.0
    # A fitted choice measured on other questions: here question b alone, which needs
    # its second item, so the bar that suits both still finds it.
    bounds = {"k_min": 1, "k_max": 10, "max_per_page": 1}
    on_b = outcome(queries[1:], scores[1:], marginal, **bounds)
    assert on_b.hit_rate == 1.0 and on_b.fixed_k_mean_items == 10.0
    assert on_b.tau == marginal.tau and on_b.rule == "marginal"
    strict = replace(marginal, tau=0.99)
    assert outcome(queries[1:], scores[1:], strict, **bounds).mean_items == 1.0


def test_marginal_rule_keeps_items_while_they_may_be_the_first_hit() -> None:
    def kept(scores: list[float], tau: float, k_min: int = 1) -> int:
        items = [scored(node(str(i)), s) for i, s in enumerate(scores)]
        return len(adaptive_k(items, tau=tau, k_min=k_min, k_max=10, rule="marginal"))

    # A confident first item: the second may be the first hit only with 0.1 x 0.5.
    assert kept([0.9, 0.5, 0.4], tau=0.1) == 1
    # No confident item: the chances spread out, 0.3, 0.21, 0.147, 0.103
    assert kept([0.3, 0.3, 0.3, 0.3], tau=0.12) == 3
    assert kept([0.3, 0.3, 0.3, 0.3], tau=0.0) == 4
    assert kept([0.01, 0.01], tau=0.1) == 1  # at least k_min
    assert kept([0.01, 0.01], tau=0.1, k_min=0) == 0


def test_adaptive_k_on_a_reranked_list_keeps_its_order() -> None:
    # A judge moved the 0.4 item first: the scores still say how many items to keep.
    items = [scored(node(str(i)), s) for i, s in enumerate([0.4, 0.9, 0.8, 0.1])]
    threshold = adaptive_k(items, tau=0.5, k_min=1, k_max=10, rule="threshold")
    assert [c.node.id for c in threshold] == ["0", "1"]  # two scores reach 0.5
    # First-hit chances along the list: 0.4, 0.54, 0.048, 0.0012.
    marginal = adaptive_k(items, tau=0.04, k_min=1, k_max=10, rule="marginal")
    assert [c.node.id for c in marginal] == ["0", "1", "2"]


def test_limit_per_page_and_page_neighbours() -> None:
    a1, a2, b1 = node("a1", page=1), node("a2", page=1), node("b1", page=2)
    md = node("md", page=None, source="/d/x.md")
    kept = limit_per_page([scored(a1, 0.9), scored(a2, 0.8), scored(b1, 0.7), scored(md, 0.6)], 1)
    assert [k.node.id for k in kept] == ["a1", "b1", "md"]
    chart = node("chart", kind=NodeKind.IMAGE_SUMMARY, page=3, image_id="c")
    caption = node("caption", page=3)
    out = with_page_text([scored(chart, 0.8)], {("/d/a.pdf", 3): scored(caption, 0.2)})
    assert [o.node.id for o in out] == ["chart", "caption"]
    assert out[1].score < out[0].score


def test_search_filter_where_is_safe() -> None:
    where = SearchFilter(
        sources=("it's.pdf",), docs=("d1') OR (1=1",), kinds=(NodeKind.TEXT,), pages=(3, 7)
    ).where()
    assert where is not None
    assert "'%/it''s.pdf'" in where and "'d1'') OR (1=1'" in where
    assert "page >= 3 AND page <= 7" in where and "kind IN ('text')" in where
    assert SearchFilter().where() is None
    assert parse_pages("4") == (4, 4) and parse_pages("2-9") == (2, 9)
    with pytest.raises(ValueError):
        parse_pages("9-2")


def test_page_mentions() -> None:
    assert mentioned_pages("What is on page 12 and slide 3?") == [12, 3]
    assert mentioned_pages("pages of the report") == []


# -- features and the calibrated score --------------------------------------------------


def _candidates() -> tuple[Candidates, list[ScoredNode]]:
    good, bad = node("good", page=4), node("bad", page=9, source="/d/b.pdf")
    from mmrag.store.documents import DocumentHit

    found = Candidates(
        query="What is shown on page 4?",
        lists={"text_vector": [Hit(good, 0.8), Hit(bad, 0.4)], "full_text": [Hit(good, 9.0)]},
        documents=[DocumentHit("/d/a.pdf", "d", 5.0), DocumentHit("/d/b.pdf", "d2", 1.0)],
    )
    return found, reciprocal_rank_fusion(found.lists)


def test_features_are_bounded_and_informative() -> None:
    found, items = _candidates()
    x = feature_matrix(found, items, rrf_k=60)
    assert x.shape == (2, len(FEATURES))
    assert np.all((x >= 0) & (x <= 1))
    row = dict(zip(FEATURES, x[0], strict=True))
    assert row["page_mention"] == 1.0 and row["doc_prior"] == 1.0 and row["both_text_lists"] == 1.0
    assert dict(zip(FEATURES, x[1], strict=True))["doc_prior"] == pytest.approx(0.2)


def test_calibrated_scorer_prefers_the_better_candidate() -> None:
    scorer = relevancy_scorers.create(relevancy_scorers.parse("calibrated"))
    found, items = _candidates()
    good, bad = scorer.score(found, items)
    assert 0 <= bad < good <= 1


def test_calibrated_scorer_refuses_unknown_features() -> None:
    with pytest.raises(ConfigError, match="unknown features"):
        relevancy_scorers.parse({"type": "calibrated", "weights": {"bm42": 1.0}})


# -- the MLLM judge -----------------------------------------------------------------------


class Judge:
    """Answers "Yes" with a fixed probability, through log-probs."""

    def __init__(self, yes: float) -> None:
        self.yes = yes
        self.calls = 0

    @property
    def name(self) -> str:
        return "judge"

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(logprobs=True)

    def generate(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Generation:
        self.calls += 1
        p = self.yes if "ocelot" in messages[-1].as_text() else 1 - self.yes
        top = {"Yes": float(np.log(p)), "No": float(np.log(1 - p))}
        return Generation("Yes", "judge", 1, 1, logprobs=[TokenLogprob("Yes", top["Yes"], top)])

    def stream(
        self, messages: Sequence[Message], options: GenerationOptions | None = None
    ) -> Iterator[str | Generation]:
        yield self.generate(messages, options)


def test_p_yes_reads_the_next_token_distribution() -> None:
    judge = Judge(0.8)
    assert p_yes(judge, [Message.text("user", "ocelot?")]) == pytest.approx(0.8)
    assert p_yes(judge, [Message.text("user", "other")]) == pytest.approx(0.2)


def test_rerank_orders_by_the_judge_and_caches(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Cats and dogs and more cats.", encoding="utf-8")
    (docs / "b.txt").write_text("The ocelot is a wild cat.", encoding="utf-8")
    rag = RAG.open(
        tmp_path / "s", pipeline=fast_pipeline(retrieval={"rerank": {"enabled": True, "top_n": 5}})
    )
    rag.ingest([docs])
    judge = Judge(0.9)
    rag.retriever.judge = MLLMJudgeScorer(MLLMJudgeConfig(), model=judge)
    first = rag.search("cats", k=2)
    assert Path(first[0].node.source).name == "b.txt"
    assert first[0].scores["rerank"]["score"] == pytest.approx(0.9)
    calls = judge.calls
    rag.search("cats", k=2)
    assert judge.calls == calls  # cached


def test_judge_needs_logprobs() -> None:
    from mmrag.errors import ModelError

    class NoLogprobs(Judge):
        @property
        def capabilities(self) -> Capabilities:
            return Capabilities(logprobs=False)

    with pytest.raises(ModelError, match="log-probs"):
        p_yes(NoLogprobs(0.5), [Message.text("user", "x")])


# -- the retriever end to end -------------------------------------------------------------


@pytest.fixture
def pdf_rag(tmp_path: Path) -> RAG:
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline())
    pages = [f"Page {i} talks about topic{i} and the harbour." for i in range(1, 9)]
    make_pdf(tmp_path / "a.pdf", pages)
    make_pdf(tmp_path / "b.pdf", ["Another report about the harbour cranes.", "Appendix."])
    assert rag.ingest([tmp_path / "a.pdf", tmp_path / "b.pdf"]).ok
    return rag


def test_adaptive_retrieval_returns_between_k_min_and_k_max(pdf_rag: RAG) -> None:
    settings = pdf_rag.config.retrieval.adaptive
    result = pdf_rag.retrieve("harbour topic3")
    assert settings.k_min <= len(result.items) <= settings.k_max
    assert all(0 <= i.score <= 1 for i in result.items)
    assert [i.score for i in result.items] == sorted((i.score for i in result.items), reverse=True)
    assert "fusion" in result.items[0].scores and result.candidates >= len(result.items)
    assert len(pdf_rag.search("harbour", k=3)) == 3


def test_filters_restrict_documents_kinds_and_pages(pdf_rag: RAG) -> None:
    hits = pdf_rag.search("harbour", k=20, filters=SearchFilter(sources=("a.pdf",), pages=(2, 4)))
    assert {(Path(h.node.source).name, h.node.page) for h in hits} <= {
        ("a.pdf", p) for p in (2, 3, 4)
    }
    assert hits
    assert pdf_rag.search("harbour", k=5, filters=SearchFilter(kinds=(NodeKind.IMAGE,))) == []


def test_page_mention_lifts_that_page(pdf_rag: RAG) -> None:
    hits = pdf_rag.search("What does page 6 say about the harbour?", k=3, source="a.pdf")
    assert hits[0].node.page == 6


def test_printed_page_numbers_are_recognised() -> None:
    assert printed_page_number("Graduate Studies & Professional Learning  17\n", [17])
    assert printed_page_number("28 \nChapter 3: Important Information", [28])
    assert not printed_page_number("revenue grew to 1.17", [17])
    assert not printed_page_number("in 2017 the harbour", [17])


def test_page_mention_finds_the_printed_page_number(tmp_path: Path) -> None:
    """Readers cite the number printed in the footer, not the PDF's page index."""
    rag = RAG.open(tmp_path / "store", pipeline=fast_pipeline())
    # Every other page counts 13 cranes in its body; page 3's footer prints "13".
    pages = [
        f"The harbour survey, part {chr(65 + i)}: {9 if i == 2 else 13} cranes.\n\n{i + 11}"
        for i in range(8)
    ]
    make_pdf(tmp_path / "journal.pdf", pages)
    assert rag.ingest([tmp_path / "journal.pdf"]).ok
    hits = rag.search("What does page 13 say about the harbour survey?", k=3)
    assert hits[0].node.page == 3  # printed "13"


def test_no_scorer_falls_back_to_fusion_and_fixed_k(tmp_path: Path) -> None:
    rag = RAG.open(tmp_path / "s", pipeline=fast_pipeline(retrieval={"scorer": None, "k": 2}))
    docs = tmp_path / "d"
    docs.mkdir()
    for i in range(4):
        (docs / f"{i}.txt").write_text(f"harbour note {i}", encoding="utf-8")
    rag.ingest([docs])
    assert len(rag.search("harbour")) == 2
