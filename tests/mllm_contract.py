"""The MLLM seam's contract, checked against every backend by its own test module."""

from __future__ import annotations

from mmrag.models.mllm import MLLM, Generation, GenerationOptions, ImagePart, Message
from tests.conftest import text_image

MESSAGES = [
    Message.text("system", "You are a terse assistant."),
    Message.text("user", "Say hello."),
]


def check_mllm_contract(model: MLLM, *, expect_logprobs: bool | None = None) -> None:
    """Generate, stream and (when offered) log-probs behave as the seam promises."""
    assert isinstance(model, MLLM)
    assert model.name
    caps = model.capabilities
    assert caps.context_tokens > 0 and caps.max_images >= 0
    options = GenerationOptions(max_tokens=8, temperature=0.0, seed=1)
    first = model.generate(MESSAGES, options)
    assert isinstance(first, Generation) and first.text.strip()
    assert first.completion_tokens > 0 and first.prompt_tokens > 0
    assert first.model

    items = list(model.stream(MESSAGES, options))
    *deltas, final = items
    assert isinstance(final, Generation)
    assert all(isinstance(d, str) for d in deltas)
    assert "".join(deltas) == final.text  # type: ignore[arg-type]

    # A message with an image must work whatever the backend takes (pixels or summary).
    with_image = [
        Message(
            "user",
            [
                ImagePart.from_pil(text_image("HELLO"), summary="a sign saying HELLO"),
                "What does it say?",
            ],
        )
    ]
    assert model.generate(with_image, options).text.strip()

    if expect_logprobs if expect_logprobs is not None else caps.logprobs:
        scored = model.generate(MESSAGES, GenerationOptions(max_tokens=3, top_logprobs=3))
        assert scored.logprobs, "log-probs were requested and promised"
        assert all(t.logprob <= 0.0 for t in scored.logprobs)
        assert all(len(t.top) >= 1 for t in scored.logprobs)
