"""Image summarizers. Importing this package registers the built-in backends."""

from mmrag.models.summarize import ocr_tags
from mmrag.models.summarize.base import ImageContext, ImageSummarizer, image_summarizers

__all__ = ["ImageContext", "ImageSummarizer", "image_summarizers", "ocr_tags"]
