"""The transformers VLM backend on a tiny random LLaVA built offline in the test.

The model's text is gibberish; the tests check the plumbing instead — prompts with image
tokens, token counts, streaming, stop strings, log-probs, batches — and that a model saved
with ``save_pretrained`` loads through the backend's config.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

pytest.importorskip("torch")
pytest.importorskip("transformers")

import torch
import transformers

from mmrag.errors import ConfigError, ModelError
from mmrag.models.mllm.base import (
    MLLM,
    BackendUnavailableError,
    Generation,
    GenerationOptions,
    ImagePart,
    Message,
    ModelResponseError,
    mllms,
)
from mmrag.models.mllm.transformers_vlm import (
    TransformersVLM,
    TransformersVLMConfig,
)
from tests.mllm_contract import check_mllm_contract
from tests.tiny_transformers import (
    BOS,
    CHAT_TEMPLATE,
    EOS,
    IMAGE,
    IMAGE_TOKENS,
    PAD,
    PATCH,
    SPECIALS,
    fast_tokenizer,
    image_processor,
    tiny_vision,
)


@pytest.fixture(scope="session")
def tiny_llava() -> tuple[Any, Any]:
    """A random LLaVA (tiny CLIP vision tower + tiny Llama) and its processor."""
    # Llama-style: BOS prepended, no EOS appended to the prompt.
    tokenizer = fast_tokenizer("<s> $A", extra_special_tokens={"image_token": "<image>"})
    processor = transformers.LlavaProcessor(
        image_processor=image_processor(),
        tokenizer=tokenizer,
        patch_size=PATCH,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # the vision tower's CLS token
        chat_template=CHAT_TEMPLATE,
    )
    text = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=256,
        bos_token_id=BOS,
        eos_token_id=EOS,
        pad_token_id=PAD,
    )
    config = transformers.LlavaConfig(
        vision_config=transformers.CLIPVisionConfig(**tiny_vision()),
        text_config=text,
        image_token_index=IMAGE,
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    torch.manual_seed(0)
    model = transformers.AutoModelForImageTextToText.from_config(config).eval()
    # A random model may pick EOS (or other special tokens) first and say nothing at all;
    # suppressing them makes every test generation produce text of a known length.
    model.generation_config.suppress_tokens = list(range(len(SPECIALS)))
    model.generation_config.eos_token_id = EOS
    model.generation_config.pad_token_id = PAD
    return model, processor


@pytest.fixture(scope="session")
def llava_dir(tiny_llava: tuple[Any, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tiny-llava")
    model, processor = tiny_llava
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def vlm(tiny_llava: tuple[Any, Any]) -> TransformersVLM:
    model, processor = tiny_llava
    config = TransformersVLMConfig(model="tiny-llava", max_images=2, context_tokens=256)
    return TransformersVLM.from_objects(model, processor, config)


def _photo(color: str, size: tuple[int, int] = (48, 40)) -> ImagePart:
    return ImagePart.from_pil(Image.new("RGB", size, color), summary=f"a {color} square")


def _ask(*images: ImagePart, text: str = "what is in this image?") -> list[Message]:
    return [
        Message.text("system", "describe the picture"),
        Message("user", [*images, text]),
    ]


def _stop_inside(text: str) -> int:
    """A position k > 0 after some visible text where text[k:k+2] first occurs."""
    for k in range(1, len(text) - 2):
        if text[:k].strip() and text.find(text[k : k + 2]) == k:
            return k
    pytest.fail(f"no usable stop position in {text!r}")


# -- transformers VLM -----------------------------------------------------------------------


def test_vlm_is_registered_and_describes_itself(vlm: TransformersVLM) -> None:
    config = mllms.parse({"type": "transformers", "model": "Qwen/Qwen2-VL-2B-Instruct"})
    assert isinstance(config, TransformersVLMConfig) and config.dtype == "auto"
    with pytest.raises(ConfigError):
        mllms.parse({"type": "transformers", "model": "x", "temperature": 0.2})
    assert isinstance(vlm, MLLM)
    assert vlm.name == "transformers:tiny-llava"
    caps = vlm.capabilities
    assert caps.images and caps.logprobs
    assert (caps.max_images, caps.context_tokens) == (2, 256)


def test_vlm_meets_the_mllm_contract(vlm: TransformersVLM) -> None:
    check_mllm_contract(vlm, expect_logprobs=True)


def test_generate_without_image(vlm: TransformersVLM) -> None:
    generation = vlm.generate(_ask(), GenerationOptions(max_tokens=6))
    assert isinstance(generation, Generation)
    assert isinstance(generation.text, str) and generation.text.strip()
    assert generation.model == vlm.name
    assert generation.completion_tokens == 6 and generation.finish_reason == "length"
    assert generation.prompt_tokens > 10 and generation.seconds > 0
    assert generation.logprobs is None


def test_images_become_image_tokens_and_reach_the_model(vlm: TransformersVLM) -> None:
    options = GenerationOptions(max_tokens=3, top_logprobs=1)
    plain = vlm.generate(_ask(), options)
    red = vlm.generate(_ask(_photo("red")), options)
    two = vlm.generate(_ask(_photo("red"), _photo("blue", (20, 90))), options)
    # Each image adds its patch tokens (text around it may tokenize one piece differently).
    assert two.prompt_tokens - red.prompt_tokens == IMAGE_TOKENS
    assert red.prompt_tokens - plain.prompt_tokens >= IMAGE_TOKENS
    assert red.completion_tokens == 3 and red.text.strip()
    # Different pixels change the model's next-token distribution.
    blue = vlm.generate(_ask(_photo("blue")), options)
    assert red.logprobs and blue.logprobs
    assert red.logprobs[0].top != blue.logprobs[0].top


def test_greedy_generation_is_repeatable(vlm: TransformersVLM) -> None:
    messages = _ask(_photo("green"))
    options = GenerationOptions(max_tokens=5)
    assert vlm.generate(messages, options).text == vlm.generate(messages, options).text


def test_sampling_with_seed_is_repeatable(vlm: TransformersVLM) -> None:
    options = GenerationOptions(max_tokens=5, temperature=1.0, top_p=0.9, seed=7)
    first = vlm.generate(_ask(), options)
    assert first.completion_tokens == 5
    assert vlm.generate(_ask(), options).text == first.text


def test_stream_deltas_add_up_to_the_final_text(vlm: TransformersVLM) -> None:
    messages = _ask(_photo("red"))
    options = GenerationOptions(max_tokens=8)
    items = list(vlm.stream(messages, options))
    *deltas, final = items
    assert isinstance(final, Generation)
    assert len(deltas) > 1 and all(isinstance(d, str) and d for d in deltas)
    assert "".join(str(d) for d in deltas) == final.text
    reference = vlm.generate(messages, options)
    assert final.text == reference.text
    assert (final.prompt_tokens, final.completion_tokens) == (
        reference.prompt_tokens,
        reference.completion_tokens,
    )
    assert final.finish_reason == "length"


def test_stream_can_be_abandoned(vlm: TransformersVLM) -> None:
    stream = vlm.stream(_ask(), GenerationOptions(max_tokens=200))
    first = next(stream)
    assert isinstance(first, str)
    stream.close()  # stops the background generation
    # The backend is free again for the next request.
    assert vlm.generate(_ask(), GenerationOptions(max_tokens=2)).completion_tokens == 2


def test_stop_string_trims_generate_and_stream(vlm: TransformersVLM) -> None:
    messages = _ask(_photo("red"))
    full = vlm.generate(messages, GenerationOptions(max_tokens=12)).text
    k = _stop_inside(full)
    options = GenerationOptions(max_tokens=12, stop=(full[k : k + 2], "never-seen-stop"))
    stopped = vlm.generate(messages, options)
    assert stopped.text == full[:k]
    assert stopped.finish_reason == "stop" and stopped.completion_tokens <= 12
    *deltas, final = vlm.stream(messages, options)
    assert "".join(str(d) for d in deltas) == full[:k]
    assert isinstance(final, Generation) and final.text == full[:k]
    assert final.finish_reason == "stop"


def test_empty_completion_is_a_model_response_error(vlm: TransformersVLM) -> None:
    messages = _ask()
    full = vlm.generate(messages, GenerationOptions(max_tokens=6)).text
    # Stopping at the first visible character leaves nothing worth showing.
    options = GenerationOptions(max_tokens=6, stop=(full.strip()[0],))
    with pytest.raises(ModelResponseError, match="empty completion"):
        vlm.generate(messages, options)
    with pytest.raises(ModelResponseError, match="empty completion"):
        list(vlm.stream(messages, options))


def test_generation_failure_is_a_model_error(
    vlm: TransformersVLM, tiny_llava: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(**kwargs: Any) -> Any:
        raise RuntimeError("out of memory")

    monkeypatch.setattr(tiny_llava[0], "generate", broken)
    with pytest.raises(ModelError, match="failed while generating: out of memory"):
        vlm.generate(_ask())
    # The stream ends with the error instead of waiting forever for text.
    with pytest.raises(ModelError, match="failed while generating: out of memory"):
        list(vlm.stream(_ask()))


def test_a_processor_without_chat_template_is_a_model_error(
    tiny_llava: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    model, processor = tiny_llava
    monkeypatch.setattr(processor, "chat_template", None)
    backend = TransformersVLM.from_objects(model, processor)
    with pytest.raises(ModelError, match="cannot turn these messages into model inputs"):
        backend.generate(_ask())


def test_top_logprobs(vlm: TransformersVLM) -> None:
    generation = vlm.generate(_ask(_photo("red")), GenerationOptions(max_tokens=5, top_logprobs=3))
    assert generation.logprobs is not None
    assert len(generation.logprobs) == generation.completion_tokens == 5
    for entry in generation.logprobs:
        assert isinstance(entry.token, str) and entry.logprob <= 0
        assert len(entry.top) == 3 and all(v <= 0 for v in entry.top.values())
        assert list(entry.top.values()) == sorted(entry.top.values(), reverse=True)
        assert entry.logprob <= max(entry.top.values()) + 1e-6
    *_, streamed = vlm.stream(_ask(_photo("red")), GenerationOptions(max_tokens=5, top_logprobs=3))
    assert isinstance(streamed, Generation) and streamed.logprobs == generation.logprobs


def test_vlm_loads_from_a_saved_directory(vlm: TransformersVLM, llava_dir: Path) -> None:
    config = mllms.parse({"type": "transformers", "model": str(llava_dir), "dtype": "float32"})
    loaded = mllms.create(config)
    assert isinstance(loaded, TransformersVLM)
    messages = _ask(_photo("red"))
    options = GenerationOptions(max_tokens=6)
    assert loaded.generate(messages, options).text == vlm.generate(messages, options).text


@pytest.mark.usefixtures("offline")
def test_vlm_missing_model_fails_fast() -> None:
    backend = TransformersVLM(TransformersVLMConfig(model="mmrag-tests/no-such-vlm"))
    start = time.perf_counter()
    with pytest.raises(BackendUnavailableError, match=r"could not load .*no-such-vlm"):
        backend.generate([Message.text("user", "hi")])
    assert time.perf_counter() - start < 10


# -- batches --------------------------------------------------------------------------------


def test_a_batch_of_text_prompts_matches_one_by_one(vlm: TransformersVLM) -> None:
    """Left padding and the attention mask keep each row's result its own."""
    conversations = [
        _ask(text="hi"),
        _ask(text="what is in this image? describe the picture in one sentence."),
        _ask(text="revenue rose by ten percent"),
    ]
    options = GenerationOptions(max_tokens=3, top_logprobs=2)
    batched = vlm.generate_batch(conversations, options)
    alone = [vlm.generate(c, options) for c in conversations]
    assert [g.text for g in batched] == [g.text for g in alone]
    assert [g.prompt_tokens for g in batched] == [g.prompt_tokens for g in alone]
    assert len({g.prompt_tokens for g in alone}) == 3  # really padded
    for b, a in zip(batched, alone, strict=True):
        assert b.logprobs and a.logprobs and b.completion_tokens == a.completion_tokens == 3
        for x, y in zip(b.logprobs, a.logprobs, strict=True):
            assert x.token == y.token and x.logprob == pytest.approx(y.logprob, abs=1e-4)


def test_a_batch_with_images_goes_one_by_one(
    vlm: TransformersVLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    original = vlm.generate

    def counted(messages: Any, options: Any = None) -> Generation:
        calls.append(1)
        return original(messages, options)

    monkeypatch.setattr(vlm, "generate", counted)
    out = vlm.generate_batch([_ask(_photo("red")), _ask()], GenerationOptions(max_tokens=2))
    assert len(out) == 2 and len(calls) == 2


def test_the_judge_batches_through_a_transformers_model(
    vlm: TransformersVLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmrag.models.relevance import Candidates
    from mmrag.models.relevance.mllm_judge import MLLMJudgeConfig, MLLMJudgeScorer
    from mmrag.schema import Node, NodeKind, ScoredNode

    batches: list[int] = []
    original = vlm.generate_batch

    def counted(conversations: Any, options: Any = None) -> list[Generation]:
        batches.append(len(conversations))
        return original(conversations, options)

    monkeypatch.setattr(vlm, "generate_batch", counted)
    items = [
        ScoredNode(Node(id=f"n{i}", kind=NodeKind.TEXT, doc_id="d", source="a", text=t), 0.0)
        for i, t in enumerate(["a dog on the beach", "the cat sat", "revenue rose", "hello"])
    ]
    question = Candidates(query="where is the dog?")
    scores = MLLMJudgeScorer(MLLMJudgeConfig(batch_size=3), model=vlm).score(question, items)
    assert batches == [3, 1]
    single = MLLMJudgeScorer(MLLMJudgeConfig(batch_size=1), model=vlm).score(question, items)
    assert scores == pytest.approx(single, abs=1e-4)
