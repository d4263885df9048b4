"""BadCLIP (Liang et al., CVPR 2024): an optimised patch pasted (not blended) in the image centre.

BadCLIP's code pastes a 16x16 RGB patch over rows/columns 104–119 of the 224x224 image, before
CLIP's normalisation. ``patch`` is the PNG written by ``cleanerclip trigger optimize-badclip``
(see ``badclip_optimize.py``); without one the trigger uses the optimisation's starting point,
N(0.5, 0.25) noise clipped to [0, 1] drawn from the attack seed — useful for tests and as the
un-optimised baseline, not as a real BadCLIP attack. The patch is resized (nearest) to
``size`` × the shorter side, so a patch optimised at one resolution pastes at another.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from cleanerclip_tool.attacks.base import POSITIONS, Trigger, file_sha256, patch_pixels, place_patch
from cleanerclip_tool.data.images import open_rgb
from cleanerclip_tool.errors import BadInputError


@dataclass(frozen=True)
class BadCLIPParams:
    patch: str | None = None  # the optimised patch image; None = the seeded N(0.5, 0.25) start
    size: float = 16 / 224  # [BadCLIP code] 16x16 on 224x224
    size_px: int | None = None
    position: str = "center"  # [BadCLIP code] rows/cols 104–119 of 224


def initial_patch(side: int, seed: int) -> np.ndarray:
    """BadCLIP's starting point: N(0.5, 0.25) per pixel, clipped to [0, 1]; float HxWx3."""
    return np.clip(np.random.default_rng([seed, 0xBAD]).normal(0.5, 0.25, (side, side, 3)), 0.0, 1.0)


class BadCLIPTrigger(Trigger):
    """Paste a fixed patch image at a fixed position."""

    name = "badclip"
    Params = BadCLIPParams
    needs_artefact = True

    def validate(self) -> None:
        p: BadCLIPParams = self.params
        if not 0 < p.size <= 1 or (p.size_px is not None and p.size_px < 1):
            raise BadInputError("size must be in (0, 1] and size_px >= 1", where="badclip")
        if p.position not in POSITIONS:
            raise BadInputError(f"position must be one of {', '.join(POSITIONS)}", where="badclip")
        self._patch = open_rgb(p.patch) if p.patch is not None else None
        self._resized: dict[int, np.ndarray] = {}

    def artefact_sha256(self) -> str | None:
        return file_sha256(self.params.patch) if self.params.patch is not None else None

    def patch_array(self, side: int) -> np.ndarray:
        """The patch as a uint8 side x side x 3 array."""
        if side not in self._resized:
            if self._patch is None:
                self._resized[side] = np.rint(initial_patch(side, self.seed) * 255).astype(np.uint8)
            else:
                resized = self._patch.resize((side, side), Image.Resampling.NEAREST)
                self._resized[side] = np.asarray(resized, dtype=np.uint8)
        return self._resized[side]

    def apply_array(self, image: np.ndarray, index: int) -> np.ndarray:
        p: BadCLIPParams = self.params
        height, width = image.shape[:2]
        side = patch_pixels(p.size, p.size_px, height, width)
        top, left = place_patch(p.position, side, side, height, width, self.rng(index))
        out = image.copy()
        out[top : top + side, left : left + side] = self.patch_array(side)
        return out
