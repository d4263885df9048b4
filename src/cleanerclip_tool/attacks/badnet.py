"""BadNet (Gu et al., 2017) as CleanCLIP applies it to CLIP.

CleanCLIP's ``backdoor/utils.py`` ("random" patch type) replaces a 16x16 square of the 224x224 image
with the per-channel image mean plus N(0, 1) noise (on the 0..1 scale, so the patch saturates to
near black/white speckle), drawn anew for every image, at a random location. The original BadNets
paper used a fixed pattern in a corner; ``pattern="checkerboard"`` with a fixed ``position`` gives
that variant. Size is a fraction of the shorter side (16/224 by default) so it scales to 32x32 toy
images; ``size_px`` pins it in pixels instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cleanerclip_tool.attacks.base import (
    POSITIONS,
    Trigger,
    patch_pixels,
    place_patch,
    require_choice,
    require_interval,
)

PATTERNS = ("noise", "checkerboard")


@dataclass(frozen=True)
class BadNetParams:
    pattern: str = "noise"  # [CleanCLIP code] "random": image mean + N(0, 1) noise per image
    size: float = 16 / 224  # [CleanCLIP code] 16x16 on 224x224, as a fraction of the shorter side
    size_px: int | None = None  # overrides ``size`` when given
    position: str = "random"  # [CleanCLIP code] random location per image
    noise_std: float = 1.0  # [CleanCLIP code] N(0, 1) on the 0..1 pixel scale
    cell_px: int = 1  # checkerboard cell side in pixels


class BadNetTrigger(Trigger):
    """A square patch (noise or checkerboard) pasted at a fixed or random position."""

    name = "badnet"
    Params = BadNetParams

    def validate(self) -> None:
        p: BadNetParams = self.params
        require_choice("badnet", "pattern", p.pattern, PATTERNS)
        require_interval("badnet", "size", p.size, "(0, 1]")
        require_interval("badnet", "size_px", p.size_px, "[1, inf)")
        require_choice("badnet", "position", p.position, POSITIONS)
        require_interval("badnet", "noise_std", p.noise_std, "[0, inf)")
        require_interval("badnet", "cell_px", p.cell_px, "[1, inf)")

    def apply_array(self, image: np.ndarray, index: int) -> np.ndarray:
        p: BadNetParams = self.params
        height, width = image.shape[:2]
        side = patch_pixels(p.size, p.size_px, height, width)
        rng = self.rng(index)
        top, left = place_patch(p.position, side, side, height, width, rng)
        out = image.astype(np.float32)
        if p.pattern == "noise":
            mean = out.reshape(-1, 3).mean(axis=0)  # per-channel mean of the whole image
            noise = rng.standard_normal((side, side, 3)).astype(np.float32) * (p.noise_std * 255.0)
            out[top : top + side, left : left + side] = mean + noise
        else:
            cells = (np.arange(side)[:, None] // p.cell_px + np.arange(side)[None, :] // p.cell_px) % 2
            out[top : top + side, left : left + side] = (cells * 255.0)[..., None]
        return out
