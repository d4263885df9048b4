"""The user's own trigger image, pasted at a position and size, or blended over the whole image.

This is how a user scans for a trigger they suspect (``cleanerclip scan MODEL --attack custom
--trigger FILE``): the trigger is applied exactly as given, at the image's native size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from cleanerclip_tool.attacks.base import POSITIONS, Trigger, file_sha256, patch_pixels, place_patch
from cleanerclip_tool.data.images import open_rgb
from cleanerclip_tool.errors import BadInputError

MODES = ("paste", "blend")


@dataclass(frozen=True)
class CustomParams:
    image: str | None = None  # required: the trigger image (any format Pillow reads)
    mode: str = "paste"  # "paste" a square at ``position`` or "blend" over the whole image
    size: float = 0.1  # paste: side as a fraction of the shorter image side
    size_px: int | None = None
    position: str = "bottom-right"
    alpha: float = 0.2  # blend: weight of the trigger image


class CustomTrigger(Trigger):
    """Paste or blend a user-supplied image."""

    name = "custom"
    Params = CustomParams
    needs_artefact = True

    def validate(self) -> None:
        p: CustomParams = self.params
        if p.image is None:
            raise BadInputError(
                "the custom attack needs a trigger image", where="--trigger", hint="pass --trigger FILE"
            )
        if p.mode not in MODES:
            raise BadInputError(f"mode must be one of {', '.join(MODES)} (got {p.mode!r})", where="custom")
        if p.position not in POSITIONS:
            raise BadInputError(f"position must be one of {', '.join(POSITIONS)}", where="custom")
        if not 0 < p.size <= 1 or not 0 < p.alpha <= 1 or (p.size_px is not None and p.size_px < 1):
            raise BadInputError("size and alpha must be in (0, 1], size_px >= 1", where="custom")
        self._image = open_rgb(p.image)
        self._cache: dict[tuple[int, int], np.ndarray] = {}

    def artefact_sha256(self) -> str | None:
        return file_sha256(self.params.image) if self.params.image is not None else None

    def _resized(self, height: int, width: int) -> np.ndarray:
        if (height, width) not in self._cache:
            img = self._image.resize((width, height), Image.Resampling.BILINEAR)
            self._cache[(height, width)] = np.asarray(img, dtype=np.float32)
        return self._cache[(height, width)]

    def apply_array(self, image: np.ndarray, index: int) -> np.ndarray:
        p: CustomParams = self.params
        height, width = image.shape[:2]
        if p.mode == "blend":
            return (1.0 - p.alpha) * image.astype(np.float32) + p.alpha * self._resized(height, width)
        side = patch_pixels(p.size, p.size_px, height, width)
        top, left = place_patch(p.position, side, side, height, width, self.rng(index))
        out = image.astype(np.float32)
        out[top : top + side, left : left + side] = self._resized(side, side)
        return out
