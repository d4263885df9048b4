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
        self._plans: dict[tuple[int, int], BilinearPlan] = {}

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
        height, width = image.shape[:2]
        if (height, width) not in self._plans:
            self._plans[(height, width)] = BilinearPlan.build(*self.sampling_grid(height, width))
        return self._plans[(height, width)].sample(image)


@dataclass(frozen=True)
class BilinearPlan:
    """``bilinear_sample`` with everything that depends only on the (fixed) field computed once.

    The warp is the same for every image of a size, so the corner indices and weights are cached;
    per image only the four gathers and the blend remain, element by element the very operations
    of ``bilinear_sample`` in the same order, so the output is bit-identical to it (a test checks
    this). Gathering channel-first with ``np.take`` is ~2x faster than HxWx3 fancy indexing.
    """

    corners: tuple[np.ndarray, ...]  # flat indices of (r0, c0), (r0, c1), (r1, c0), (r1, c1)
    wc: np.ndarray  # [H*W] column weight of the right neighbours
    wr: np.ndarray  # [H*W] row weight of the lower neighbours
    one_minus_wc: np.ndarray
    one_minus_wr: np.ndarray

    @classmethod
    def build(cls, rows: np.ndarray, cols: np.ndarray) -> BilinearPlan:
        height, width = rows.shape
        r0 = np.clip(np.floor(rows).astype(np.int64), 0, height - 1)
        c0 = np.clip(np.floor(cols).astype(np.int64), 0, width - 1)
        r1 = np.minimum(r0 + 1, height - 1)
        c1 = np.minimum(c0 + 1, width - 1)
        wr = (rows - r0).reshape(-1)
        wc = (cols - c0).reshape(-1)
        corners = tuple((r * width + c).reshape(-1) for r, c in ((r0, c0), (r0, c1), (r1, c0), (r1, c1)))
        return cls(corners, wc, wr, 1 - wc, 1 - wr)

    def sample(self, image: np.ndarray) -> np.ndarray:
        """HxWxC image (any real dtype) -> HxWxC float64 resampled through the field."""
        channels_first = image.reshape(-1, image.shape[2]).T.astype(np.float64)
        i00, i01, i10, i11 = (np.take(channels_first, i, axis=1) for i in self.corners)
        top = i00 * self.one_minus_wc + i01 * self.wc
        bottom = i10 * self.one_minus_wc + i11 * self.wc
        return (top * self.one_minus_wr + bottom * self.wr).T.reshape(image.shape)


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
