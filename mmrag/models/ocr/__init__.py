"""OCR engines. Importing this package registers the built-in backends."""

from mmrag.models.ocr import rapidocr
from mmrag.models.ocr.base import OcrEngine, OcrResult, ocr_engines

__all__ = ["OcrEngine", "OcrResult", "ocr_engines", "rapidocr"]
