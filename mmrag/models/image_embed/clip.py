"""CLIP-style embedders: images and texts in one vector space, for text-to-image search.

Two backends load the same family of models two ways: ``transformers-clip`` through
Hugging Face transformers (CLIP and SigLIP checkpoints) and ``open-clip`` through
open_clip (LAION and other open_clip weights; needs torchvision). Both download weights
from a model hub on first use, or read a local directory / cache.

With real weights these give zero-shot text-to-image retrieval; the offline default
(EfficientNet-lite0) only compares images with images.

Example::

    clip = image_embedders.create(TransformersCLIPConfig())
    scores = clip.embed_images(photos) @ clip.embed_texts(["a dog on a beach"]).T
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from functools import cached_property
from typing import Any, Literal, TypeVar

import numpy as np
from PIL import Image
from pydantic import Field

from mmrag.errors import ModelError
from mmrag.models.deps import require
from mmrag.models.image_embed.base import image_embedders
from mmrag.models.precision import Precision, autocast
from mmrag.registry import BackendConfig
from mmrag.timing import timed_load

T = TypeVar("T")

_OFFLINE_HINT = (
    "Is the machine offline or the model not downloaded? Download it first or point "
    "`model` at a local directory (set HF_HUB_OFFLINE=1 to fail fast without network)."
)


class _CLIPRunConfig(BackendConfig):
    device: str = "cpu"
    batch_size: int = Field(default=32, gt=0)
    #: ``auto`` uses bfloat16 on CPUs that run it natively (see mmrag.models.precision).
    precision: Precision = "auto"


class _CLIPEmbedder:
    """Batching, precision and normalisation shared by both backends."""

    #: The mmrag extra that installs this backend's dependencies.
    extra = "transformers"

    def __init__(self, config: _CLIPRunConfig) -> None:
        self._run = config
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        raise NotImplementedError

    def _embed(self, items: Sequence[T], encode: Callable[[Sequence[T]], Any]) -> np.ndarray:
        if not items:
            return np.zeros((0, self.dim), dtype=np.float32)
        torch = _torch(self.extra)
        cfg = self._run
        with self._lock, torch.inference_mode(), autocast(cfg.precision, cfg.device):
            chunks = [_normalised(encode(b)) for b in _batches(items, cfg.batch_size)]
        return np.concatenate(chunks)


class TransformersCLIPConfig(_CLIPRunConfig):
    type: Literal["transformers-clip"] = "transformers-clip"
    #: A CLIP or SigLIP hub id, or a local directory saved by ``save_pretrained``.
    model: str = "openai/clip-vit-base-patch32"


@image_embedders.register("transformers-clip", TransformersCLIPConfig)
class TransformersCLIP(_CLIPEmbedder):
    """CLIP or SigLIP through transformers' ``AutoModel`` and ``AutoProcessor``."""

    def __init__(self, config: TransformersCLIPConfig) -> None:
        super().__init__(config)
        self.config = config

    @property
    def name(self) -> str:
        return f"transformers-clip:{self.config.model}"

    @property
    def dim(self) -> int:
        config = self._loaded[0].config
        # CLIP projects both towers to projection_dim; SigLIP's towers share hidden_size.
        dim = getattr(config, "projection_dim", None) or config.vision_config.hidden_size
        return int(dim)

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        model, processor = self._loaded

        def encode(batch: Sequence[Image.Image]) -> Any:
            pixels = processor(images=[im.convert("RGB") for im in batch], return_tensors="pt")
            pixels = {k: v.to(self.config.device) for k, v in pixels.items()}
            return _features(model.get_image_features(**pixels))

        return self._embed(images, encode)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        model, processor = self._loaded
        tokenizer = processor.tokenizer
        limits = (tokenizer.model_max_length, model.config.text_config.max_position_embeddings)
        # SigLIP was trained on texts padded to full length; CLIP pads to the longest.
        siglip = "siglip" in str(model.config.model_type)

        def encode(batch: Sequence[str]) -> Any:
            tokens = tokenizer(
                list(batch),
                padding="max_length" if siglip else True,
                truncation=True,
                max_length=min(limits),
                return_tensors="pt",
            )
            tokens = {k: v.to(self.config.device) for k, v in tokens.items()}
            return _features(model.get_text_features(**tokens))

        return self._embed(texts, encode)

    @cached_property
    @timed_load
    def _loaded(self) -> tuple[Any, Any]:
        torch = _torch("transformers")
        transformers = require("transformers", extra="transformers", purpose="CLIP embeddings")
        transformers.utils.logging.disable_progress_bar()  # mmrag shows its own progress
        try:
            processor = transformers.AutoProcessor.from_pretrained(self.config.model)
            # float32 weights; bfloat16 comes from autocast where the CPU runs it natively.
            model = transformers.AutoModel.from_pretrained(self.config.model, dtype=torch.float32)
        except Exception as exc:
            raise ModelError(
                f"could not load the CLIP model '{self.config.model}' ({exc}). {_OFFLINE_HINT}"
            ) from exc
        if not hasattr(model, "get_image_features") or not hasattr(model, "get_text_features"):
            raise ModelError(
                f"'{self.config.model}' is not an image-text model (no image and text features); "
                "use a CLIP or SigLIP checkpoint"
            )
        return model.to(self.config.device).eval(), processor


class OpenCLIPConfig(_CLIPRunConfig):
    type: Literal["open-clip"] = "open-clip"
    #: An open_clip architecture name (see ``open_clip.list_pretrained()``).
    model: str = "ViT-B-32"
    #: The weights tag for that architecture, or a path to a checkpoint file.
    pretrained: str = "laion2b_s34b_b79k"


@image_embedders.register("open-clip", OpenCLIPConfig)
class OpenCLIP(_CLIPEmbedder):
    """CLIP through open_clip: its own preprocessing and tokenizer for each architecture."""

    extra = "clip"

    def __init__(self, config: OpenCLIPConfig) -> None:
        super().__init__(config)
        self.config = config

    @property
    def name(self) -> str:
        return f"open-clip:{self.config.model}:{self.config.pretrained}"

    @property
    def dim(self) -> int:
        return self._loaded[3]

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        model, preprocess, _, _ = self._loaded
        torch = _torch("clip")

        def encode(batch: Sequence[Image.Image]) -> Any:
            pixels = torch.stack([preprocess(im.convert("RGB")) for im in batch])
            return model.encode_image(pixels.to(self.config.device))

        return self._embed(images, encode)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        model, _, tokenizer, _ = self._loaded

        def encode(batch: Sequence[str]) -> Any:
            return model.encode_text(tokenizer(list(batch)).to(self.config.device))

        return self._embed(texts, encode)

    @cached_property
    @timed_load
    def _loaded(self) -> tuple[Any, Any, Any, int]:
        """(model, image preprocessing, tokenizer, embedding size)."""
        open_clip = _import_open_clip()
        cfg = self.config
        try:
            model, _, preprocess = open_clip.create_model_and_transforms(
                cfg.model, pretrained=cfg.pretrained, device=cfg.device
            )
            tokenizer = open_clip.get_tokenizer(cfg.model)
        except Exception as exc:
            raise ModelError(
                f"could not load open_clip model '{cfg.model}' with weights '{cfg.pretrained}' "
                f"({exc}). {_OFFLINE_HINT}"
            ) from exc
        arch = open_clip.get_model_config(cfg.model)  # None for hf-hub: names
        if arch is not None:
            dim = int(arch["embed_dim"])
        else:
            with _torch("clip").inference_mode():
                dim = int(model.encode_text(tokenizer(["a"]).to(cfg.device)).shape[-1])
        return model.eval(), preprocess, tokenizer, dim


def _import_open_clip() -> Any:
    _torch("clip")
    try:
        return require(
            "open_clip",
            extra="clip",
            purpose="The open-clip image embedder",
            package="open-clip-torch",
        )
    except (RuntimeError, AttributeError) as exc:
        # Installed, but torchvision does not match torch (its C++ ops fail to register).
        raise ModelError(
            f"open_clip is installed but cannot be imported ({exc}); install the torchvision "
            "release built for your torch version."
        ) from exc


def _torch(extra: str) -> Any:
    return require("torch", extra=extra, purpose="CLIP embeddings")


def _features(output: Any) -> Any:
    """transformers 5 returns an output object whose pooler_output holds the embeddings."""
    import torch

    return output if isinstance(output, torch.Tensor) else output.pooler_output


def _normalised(features: Any) -> np.ndarray:
    import torch

    vectors = torch.nn.functional.normalize(features.float(), dim=-1)
    return np.asarray(vectors.cpu().numpy(), dtype=np.float32)


def _batches(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), max(1, size)):
        yield items[start : start + size]
