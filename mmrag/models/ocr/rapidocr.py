"""RapidOCR (PP-OCR models bundled in the wheel, run by onnxruntime)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from functools import cached_property
from typing import Any, Literal

from PIL import Image

from mmrag.errors import ModelError
from mmrag.models.deps import require
from mmrag.models.ocr.base import OcrResult, ocr_engines
from mmrag.registry import BackendConfig

logger = logging.getLogger(__name__)


class RapidOcrConfig(BackendConfig):
    type: Literal["rapidocr"] = "rapidocr"
    #: Longest side the text detector sees. RapidOCR's default instead *upscales* every
    #: image to a 736 px short side, which is 3x slower on figures and finds less text.
    det_max_side: int = 960
    #: The 180° angle classifier costs ~30% and rarely matters for documents.
    use_angle_classifier: bool = False
    min_score: float = 0.5
    threads: int | None = None


@ocr_engines.register("rapidocr", RapidOcrConfig)
class RapidOcr:
    def __init__(self, config: RapidOcrConfig) -> None:
        self.config = config
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return "rapidocr"

    def recognize(self, images: Sequence[Image.Image]) -> list[OcrResult]:
        results = []
        for image in images:
            with self._lock:
                try:
                    out = self._engine(image.convert("RGB"))
                except Exception as exc:
                    raise ModelError(f"RapidOCR failed: {exc}") from exc
            results.append(_to_result(out, self.config.min_score))
        return results

    @cached_property
    def _engine(self) -> Any:
        mod = require("rapidocr", extra="local", purpose="RapidOCR")
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.use_cls": self.config.use_angle_classifier,
            "Global.text_score": self.config.min_score,
            "Det.limit_type": "max",
            "Det.limit_side_len": self.config.det_max_side,
        }
        if self.config.threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = self.config.threads
        return mod.RapidOCR(params=params)


def _to_result(out: Any, min_score: float) -> OcrResult:
    texts = getattr(out, "txts", None) or ()
    scores = getattr(out, "scores", None) or ()
    pairs = [(t.strip(), float(s)) for t, s in zip(texts, scores, strict=False) if t.strip()]
    kept = [(t, s) for t, s in pairs if s >= min_score]
    return OcrResult(lines=[t for t, _ in kept], scores=[s for _, s in kept])
