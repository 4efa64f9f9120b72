"""Multiple-choice answering: generation, likelihood and memory similarity."""

from __future__ import annotations

import pytest

from mmrag.errors import ConfigError
from mmrag.generate.choices import ChoiceMethod, choose
from mmrag.models.mllm import mllms
from mmrag.models.text_embed import text_embedders
from mmrag.schema import MemoryRef
from tests.test_generate import Scripted

BO = [MemoryRef(name="<bo>", info="<bo> is a Shiba Inu with a cinnamon coat.", category="dog")]
OPTIONS = {"A": "Corgi", "B": "Shiba Inu"}


def test_generation_reads_a_letter_or_the_option_text() -> None:
    assert (
        choose("Breed?", OPTIONS, method=ChoiceMethod.GENERATE, generator=Scripted("B")).key == "B"
    )
    assert (
        choose(
            "Breed?", OPTIONS, method=ChoiceMethod.GENERATE, generator=Scripted("It is a Corgi.")
        ).key
        == "A"
    )
    assert (
        choose("Breed?", OPTIONS, method=ChoiceMethod.GENERATE, generator=Scripted("No idea.")).key
        is None
    )


def test_memories_go_into_the_generation_prompt() -> None:
    model = Scripted("B")
    choose(
        "What is <bo>'s breed?", OPTIONS, method=ChoiceMethod.GENERATE, generator=model, memories=BO
    )
    assert "Name: <bo>, Info: <bo> is a Shiba Inu" in model.seen[0][0].as_text()


def test_similarity_uses_the_memory_and_abstains_without_it() -> None:
    embedder = text_embedders.create(text_embedders.parse("hashing"))
    chosen = choose(
        "What is <bo>'s breed?",
        OPTIONS,
        method=ChoiceMethod.SIMILARITY,
        memories=BO,
        embedder=embedder,
    )
    assert chosen.key == "B" and chosen.scores["B"] > chosen.scores["A"]
    assert choose("q", OPTIONS, method=ChoiceMethod.SIMILARITY, embedder=embedder).key is None


def test_likelihood_with_the_offline_model() -> None:
    pytest.importorskip("llama_cpp")
    model = mllms.create(mllms.parse({"type": "llama-cpp", "n_ctx": 1024}))
    chosen = choose(
        "What is the capital of France?",
        {"A": "Berlin", "B": "Paris"},
        method=ChoiceMethod.LIKELIHOOD,
        generator=model,
    )
    assert chosen.key == "B" and chosen.scores["B"] > chosen.scores["A"]


def test_likelihood_needs_a_scoring_backend() -> None:
    with pytest.raises(ConfigError, match="likelihood"):
        choose("q", OPTIONS, method=ChoiceMethod.LIKELIHOOD, generator=Scripted("A"))
