"""RapidOCR (PP-OCR models bundled in the wheel, run by onnxruntime)."""

from __future__ import annotations

import importlib.util
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
from mmrag.timing import timed_load

logger = logging.getLogger(__name__)


class RapidOcrConfig(BackendConfig):
    type: Literal["rapidocr"] = "rapidocr"
    #: Longest side the text detector sees. RapidOCR's default instead *upscales* every
    #: image to a 736 px short side, which is 3x slower on figures and finds less text;
    #: 736 reads ~1.5x faster than 960 and lost <1% of characters on MMLongBench pages.
    det_max_side: int = 736
    #: The 180° angle classifier costs ~30% and rarely matters for documents.
    use_angle_classifier: bool = False
    min_score: float = 0.5
    threads: int | None = None
    #: Inference engine for the PP-OCR models. ``auto`` takes OpenVINO when installed
    #: (2.1-2.3x faster than onnxruntime on Intel CPUs here, same text), else onnxruntime.
    engine: Literal["auto", "onnxruntime", "openvino"] = "auto"


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
    @timed_load
    def _engine(self) -> Any:
        mod = require("rapidocr", extra="local", purpose="RapidOCR")
        params: dict[str, Any] = {
            "Global.log_level": "error",
            "Global.use_cls": self.config.use_angle_classifier,
            "Global.text_score": self.config.min_score,
            "Det.limit_type": "max",
            "Det.limit_side_len": self.config.det_max_side,
        }
        engine = self._engine_name()
        if engine == "openvino":
            _prepare_openvino()
            typings = require("rapidocr.utils.typings", extra="local", purpose="RapidOCR")
            params["Det.engine_type"] = typings.EngineType.OPENVINO
            params["Rec.engine_type"] = typings.EngineType.OPENVINO
            params["Cls.engine_type"] = typings.EngineType.OPENVINO
            if self.config.threads:
                params["EngineConfig.openvino.inference_num_threads"] = self.config.threads
        elif self.config.threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = self.config.threads
        return mod.RapidOCR(params=params)

    def _engine_name(self) -> str:
        if self.config.engine != "auto":
            if self.config.engine == "openvino":
                require("openvino", extra="local", purpose="RapidOCR on OpenVINO")
            return self.config.engine
        return "openvino" if importlib.util.find_spec("openvino") is not None else "onnxruntime"


def _to_result(out: Any, min_score: float) -> OcrResult:
    texts = getattr(out, "txts", None) or ()
    scores = getattr(out, "scores", None) or ()
    pairs = [(t.strip(), float(s)) for t, s in zip(texts, scores, strict=False) if t.strip()]
    kept = [(t, s) for t, s in pairs if s >= min_score]
    return OcrResult(lines=[t for t, _ in kept], scores=[s for _, s in kept])


#: Compiled-kernel cache entries OpenVINO keeps per input shape. Its default (5000) let
#: memory grow without bound over a corpus of variously sized images (+770 MB on 120
#: MMLongBench figures); 1000 saves most of that at ~2% of speed (100 would cost ~10%).
_OPENVINO_SHAPE_CACHE = "1000"


def _prepare_openvino() -> None:
    """Make OpenVINO quiet and bounded before RapidOCR imports it.

    ``import openvino`` sends a usage event to Google Analytics (from a forked process)
    unless a consent file in the home directory says otherwise. mmrag promises offline,
    private operation, so it creates the telemetry singleton first with consent taken
    only from an explicit opt-in file. RapidOCR offers no setting for OpenVINO's shape
    cache, so its CPU config is extended here. Both are best effort: if either library
    changes, OCR still works, only with the old behaviour.
    """
    try:
        import openvino_telemetry

        openvino_telemetry.Telemetry(
            # OpenVINO re-initialises the singleton for any other app name.
            app_name="OpenVINO",
            app_version="0",
            tid="none",
            backend="ga4",
            enable_opt_in_dialog=True,
            disable_in_ci=True,
        )
    except Exception:  # telemetry package absent or changed: nothing to decline
        logger.debug("could not pre-empt OpenVINO telemetry", exc_info=True)
    try:
        from rapidocr.inference_engine.openvino import device_config

        cpu_config: Any = device_config.CPUConfig
        if not getattr(cpu_config, "_mmrag_patched", False):
            original = cpu_config.get_config

            def get_config(self: Any) -> dict[str, Any]:
                config = dict(original(self))
                config.setdefault("CPU_RUNTIME_CACHE_CAPACITY", _OPENVINO_SHAPE_CACHE)
                return config

            cpu_config.get_config = get_config
            cpu_config._mmrag_patched = True
    except Exception:
        logger.debug("could not bound OpenVINO's shape cache", exc_info=True)
