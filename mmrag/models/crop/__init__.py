"""Croppers. Importing this package registers the built-in backends."""

from mmrag.models.crop import simple
from mmrag.models.crop.base import Cropper, croppers

__all__ = ["Cropper", "croppers", "simple"]
