"""Tiny random transformers models and their processors, built offline for the tests.

No hub weights can be had here, so the models are randomly initialised: their text is
gibberish and their vectors meaningless; the tests check the plumbing. A ~300-token BPE
trained on a few sentences serves every model.
"""

from __future__ import annotations

import string
from typing import Any

import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

SPECIALS = ["<unk>", "<pad>", "<s>", "</s>", "<image>"]
UNK, PAD, BOS, EOS, IMAGE = range(len(SPECIALS))
CORPUS = [
    "a photo of a dog on the beach",
    "the cat sat on the mat near the window",
    "what is in this image? describe the picture in one sentence.",
    "revenue rose by ten percent in the third quarter",
    "user: hello there assistant: hello, how can I help?",
]
# Any role, text and image parts; ``<image>`` expands to the image's patch tokens.
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ m['role'] }}: "
    "{% for p in m['content'] %}"
    "{% if p['type'] == 'image' %}<image>{% else %}{{ p['text'] }}{% endif %}"
    "{% endfor %}{{ '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
PATCH, IMAGE_SIZE = 16, 32
IMAGE_TOKENS = (IMAGE_SIZE // PATCH) ** 2  # CLS token added, then dropped ("default")


def bpe() -> Tokenizer:
    """A ~300-token BPE trained on a few sentences; special ids as in SPECIALS.

    SentencePiece-style (``▁word`` pieces) rather than byte-level, so that random token
    sequences still decode to valid text with spaces, which the streamer splits on.
    """
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=300,
        special_tokens=SPECIALS,
        initial_alphabet=list(string.printable),
        show_progress=False,
    )
    tok.train_from_iterator(CORPUS * 5, trainer)
    return tok


def fast_tokenizer(template: str, **kwargs: Any) -> Any:
    tok = bpe()
    tok.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[("<s>", BOS), ("</s>", EOS)]
    )
    return transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
        **kwargs,
    )


def image_processor() -> Any:
    return transformers.CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIZE}, crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE}
    )


def tiny_vision(**extra: Any) -> dict[str, Any]:
    return dict(
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        image_size=IMAGE_SIZE,
        patch_size=PATCH,
        **extra,
    )
