"""Model-free croppers: the whole image only, or the whole image plus fixed sub-regions."""

from __future__ import annotations

from typing import Literal

from PIL import Image

from mmrag.models.crop.base import croppers
from mmrag.registry import BackendConfig


class WholeImageConfig(BackendConfig):
    type: Literal["whole"] = "whole"


@croppers.register("whole", WholeImageConfig)
class WholeImage:
    def __init__(self, config: WholeImageConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return "whole"

    def crops(self, image: Image.Image) -> list[Image.Image]:
        return [image]


class MultiCropConfig(BackendConfig):
    type: Literal["multi-crop"] = "multi-crop"
    #: Side of the centre crop, as a share of the image.
    centre: float = 0.6
    #: Also the four overlapping quadrants (each 60% of width and height).
    quadrants: bool = True


@croppers.register("multi-crop", MultiCropConfig)
class MultiCrop:
    def __init__(self, config: MultiCropConfig) -> None:
        self.config = config

    @property
    def name(self) -> str:
        return "multi-crop"

    def crops(self, image: Image.Image) -> list[Image.Image]:
        w, h = image.size
        out = [image]
        c = self.config.centre
        out.append(
            image.crop(
                (
                    int(w * (1 - c) / 2),
                    int(h * (1 - c) / 2),
                    int(w * (1 + c) / 2),
                    int(h * (1 + c) / 2),
                )
            )
        )
        if self.config.quadrants:
            for left, top in ((0.0, 0.0), (0.4, 0.0), (0.0, 0.4), (0.4, 0.4)):
                out.append(
                    image.crop(
                        (int(w * left), int(h * top), int(w * (left + 0.6)), int(h * (top + 0.6)))
                    )
                )
        return out
