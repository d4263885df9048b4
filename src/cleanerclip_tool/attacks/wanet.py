"""WaNet (Nguyen & Tran, ICLR 2021): an imperceptible, smooth warp of the whole image.

A k x k grid of random 2-D offsets (uniform in [-1, 1], normalised to mean |offset| = 1) is drawn
once per attack seed, upsampled bicubically to the image size, scaled by ``s / size`` and added to
the identity sampling grid (clamped to the image), and the image is resampled bilinearly through
it — WaNet's construction, with its paper defaults k = 4, s = 0.5. The displacement is therefore
about ``s / 2`` pixels whatever the resolution, as in WaNet. CleanCLIP's code uses k = 224, s = 1
(a per-pixel field); pass ``k=224, s=1`` for that setting.

Only the bicubic upsampling of the control grid uses torch (``interpolate`` with
``align_corners=True``, the same call WaNet uses); it runs once per image size and attack, the warp
itself is numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cleanerclip_tool.attacks.base import Trigger
from cleanerclip_tool.errors import BadInputError


@dataclass(frozen=True)
class WaNetParams:
    k: int = 4  # [WaNet paper] control grid size
    s: float = 0.5  # [WaNet paper] warping strength
    grid_rescale: float = 1.0  # [WaNet paper] shrinks the grid to keep samples inside the image


class WaNetTrigger(Trigger):
    """Resample the image through a fixed smooth random warping field."""

    name = "wanet"
    Params = WaNetParams

    def validate(self) -> None:
        p: WaNetParams = self.params
        if p.k < 2 or p.s <= 0 or p.grid_rescale <= 0:
            raise BadInputError(f"need k >= 2, s > 0, grid_rescale > 0 (got k={p.k}, s={p.s})", where="wanet")
        self._fields: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def control_grid(self) -> np.ndarray:
        """The (2, k, k) random offsets drawn from the attack seed, mean |offset| = 1."""
        k = self.params.k
        ins = self.rng().random((2, k, k)) * 2.0 - 1.0
        return ins / np.mean(np.abs(ins))

    def sampling_grid(self, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """Source pixel coordinates (rows, cols), each HxW float, for an image of this size."""
        key = (height, width)
        if key not in self._fields:
            import torch
            import torch.nn.functional as F

            ins = torch.from_numpy(self.control_grid()).to(torch.float64)[None]
            noise = F.interpolate(ins, size=(height, width), mode="bicubic", align_corners=True)[0].numpy()
            p: WaNetParams = self.params
            ys = np.linspace(-1.0, 1.0, height)[:, None] * np.ones((1, width))
            xs = np.linspace(-1.0, 1.0, width)[None, :] * np.ones((height, 1))
            # channel 0 moves x (columns), channel 1 moves y (rows), as in grid_sample's (x, y) grid
            gx = np.clip((xs + p.s * noise[0] / width) * p.grid_rescale, -1.0, 1.0)
            gy = np.clip((ys + p.s * noise[1] / height) * p.grid_rescale, -1.0, 1.0)
            # align_corners=True: -1 and 1 are the centres of the first and last pixels
            self._fields[key] = ((gy + 1.0) / 2.0 * (height - 1), (gx + 1.0) / 2.0 * (width - 1))
        return self._fields[key]

    def apply_array(self, image: np.ndarray, index: int) -> np.ndarray:
        rows, cols = self.sampling_grid(image.shape[0], image.shape[1])
        return bilinear_sample(image.astype(np.float64), rows, cols)


def bilinear_sample(image: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Sample an HxWxC float image at fractional (rows, cols) inside the image."""
    height, width = image.shape[:2]
    r0 = np.clip(np.floor(rows).astype(np.int64), 0, height - 1)
    c0 = np.clip(np.floor(cols).astype(np.int64), 0, width - 1)
    r1 = np.minimum(r0 + 1, height - 1)
    c1 = np.minimum(c0 + 1, width - 1)
    wr = (rows - r0)[..., None]
    wc = (cols - c0)[..., None]
    top = image[r0, c0] * (1 - wc) + image[r0, c1] * wc
    bottom = image[r1, c0] * (1 - wc) + image[r1, c1] * wc
    return top * (1 - wr) + bottom * wr
