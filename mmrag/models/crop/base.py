"""The cropper seam: regions of a query image worth recognising on their own.

A photo of "my dog on the sofa" is mostly sofa; recognising crops as well as the whole
image lets the dog's features decide. A detector (e.g. an open-vocabulary one from
transformers) can be plugged in as another backend.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from PIL import Image

from mmrag.registry import Registry


@runtime_checkable
class Cropper(Protocol):
    @property
    def name(self) -> str: ...

    def crops(self, image: Image.Image) -> list[Image.Image]:
        """Regions to recognise; the whole image first."""
        ...


croppers: Registry[Cropper] = Registry("croppers")
