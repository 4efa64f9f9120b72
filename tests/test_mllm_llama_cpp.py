"""The offline default generator: SmolLM2-135M-Instruct via llama-cpp-python."""

from __future__ import annotations

from pathlib import Path

import pytest

from mmrag.models.mllm import BackendUnavailableError, GenerationOptions, Message, mllms
from mmrag.models.mllm.llama_cpp import LlamaCppConfig, LlamaCppMLLM, resolve_gguf
from tests.mllm_contract import check_mllm_contract

pytest.importorskip("llama_cpp")


@pytest.fixture(scope="module")
def smollm() -> LlamaCppMLLM:
    model = mllms.create(mllms.parse({"type": "llama-cpp", "n_ctx": 2048}))
    assert isinstance(model, LlamaCppMLLM)
    return model


def test_contract(smollm: LlamaCppMLLM) -> None:
    check_mllm_contract(smollm, expect_logprobs=True)


def test_text_only_sees_image_summaries(smollm: LlamaCppMLLM) -> None:
    assert smollm.capabilities.images is False


def test_copies_an_answer_from_context(smollm: LlamaCppMLLM) -> None:
    messages = [
        Message.text("system", "Answer from the context only."),
        Message.text(
            "user",
            "Context:\n[1] The ice front has retreated 38 metres since August 2024.\n\n"
            "Question: How many metres has the ice front retreated?",
        ),
    ]
    out = smollm.generate(messages, GenerationOptions(max_tokens=30))
    assert "38" in out.text
    assert out.tokens_per_second > 0


def test_stop_strings(smollm: LlamaCppMLLM) -> None:
    messages = [Message.text("user", "Count from 1 to 10 separated by commas.")]
    out = smollm.generate(messages, GenerationOptions(max_tokens=40, stop=("5",)))
    assert "6" not in out.text


def test_bundled_model_resolves() -> None:
    path = Path(resolve_gguf("smollm2-135m"))
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and path.is_file()


def test_missing_gguf_is_a_clear_error(tmp_path: Path) -> None:
    model = LlamaCppMLLM(LlamaCppConfig(model=str(tmp_path / "nope.gguf")))
    with pytest.raises(BackendUnavailableError, match="not found"):
        model.generate([Message.text("user", "hi")])


def test_prompt_longer_than_context_is_a_clear_error() -> None:
    from mmrag.models.mllm import ModelResponseError

    model = LlamaCppMLLM(LlamaCppConfig(n_ctx=64))
    with pytest.raises(ModelResponseError):
        model.generate([Message.text("user", "word " * 200)])
