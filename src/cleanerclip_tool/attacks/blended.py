"""Blended (Chen et al., 2017): the whole image mixed with a pattern at ratio ``alpha``.

CleanCLIP's code blends ``0.2 * noise + 0.8 * image`` with uniform noise. The Blended paper uses one
fixed pattern (random noise or an image such as Hello Kitty) for every poisoned image, and so do we
by default: the noise is drawn once per attack seed (at each image size) so the trigger is a pattern
a model can learn. ``per_image=True`` redraws the noise for every image instead, as CleanCLIP's code
literally does (``torch.rand`` on every call). ``image`` blends a user's picture, resized to fit.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from cleanerclip_tool.attacks.base import Trigger, file_sha256
from cleanerclip_tool.data.images import open_rgb
from cleanerclip_tool.errors import BadInputError


@dataclass(frozen=True)
class BlendedParams:
    alpha: float = 0.2  # [CleanCLIP code, Blended paper] weight of the pattern
    image: str | None = None  # a pattern image; None = uniform noise
    per_image: bool = False  # redraw the noise per image (CleanCLIP's literal behaviour)


class BlendedTrigger(Trigger):
    """``(1 - alpha) * image + alpha * pattern`` over the whole image."""

    name = "blended"
    Params = BlendedParams

    def validate(self) -> None:
        p: BlendedParams = self.params
        if not 0 < p.alpha <= 1:
            raise BadInputError(f"alpha must be in (0, 1] (got {p.alpha})", where="blended")
        self._pattern_image = open_rgb(p.image) if p.image is not None else None
        self._patterns: dict[tuple[int, int], np.ndarray] = {}  # fixed patterns by image size

    def artefact_sha256(self) -> str | None:
        return file_sha256(self.params.image) if self.params.image is not None else None

    def pattern(self, height: int, width: int, index: int = 0) -> np.ndarray:
        """The float HxWx3 pattern (0..255) blended into an image of this size."""
        if self.params.per_image and self._pattern_image is None:
            return self.rng(index).random((height, width, 3), dtype=np.float32) * 255.0
        key = (height, width)
        if key not in self._patterns:
            if self._pattern_image is not None:
                resized = self._pattern_image.resize((width, height), Image.Resampling.BILINEAR)
                self._patterns[key] = np.asarray(resized, dtype=np.float32)
            else:
                self._patterns[key] = self.rng().random((height, width, 3), dtype=np.float32) * 255.0
        return self._patterns[key]

    def apply_array(self, image: np.ndarray, index: int) -> np.ndarray:
        alpha = float(self.params.alpha)
        pattern = self.pattern(image.shape[0], image.shape[1], index)
        return (1.0 - alpha) * image.astype(np.float32) + alpha * pattern
