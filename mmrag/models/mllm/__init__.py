"""Multimodal LLM backends. Importing this package registers the built-in backends."""

from mmrag.models.mllm import llama_cpp, ollama, openai_compat, transformers_vlm
from mmrag.models.mllm.base import (
    MLLM,
    BackendUnavailableError,
    BatchGenerator,
    Capabilities,
    Content,
    ContinuationScorer,
    Generation,
    GenerationOptions,
    ImagePart,
    Message,
    ModelResponseError,
    TokenLogprob,
    mllms,
)

__all__ = [
    "MLLM",
    "BackendUnavailableError",
    "BatchGenerator",
    "Capabilities",
    "Content",
    "ContinuationScorer",
    "Generation",
    "GenerationOptions",
    "ImagePart",
    "Message",
    "ModelResponseError",
    "TokenLogprob",
    "llama_cpp",
    "mllms",
    "ollama",
    "openai_compat",
    "transformers_vlm",
]
