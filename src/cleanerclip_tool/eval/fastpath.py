"""open_clip's standard eval preprocess, split so the per-image part is (nearly) free.

On a small model (the 32 px toy CLIP) the per-image PIL/torchvision work of ``loaded.preprocess``
costs several times the forward pass itself. The standard open_clip eval transform is

    Resize(S, bicubic) -> CenterCrop(S) -> MaybeConvertMode("RGB") -> (Maybe)ToTensor -> Normalize

and every step before ``ToTensor`` is the identity on an S x S RGB image (Pillow returns a copy when
asked to resize to the size it already has; a full-size centre crop is the whole image). So each
view only needs its uint8 S x S x 3 pixels; ``ToTensor`` (uint8 -> float / 255) and ``Normalize``
(``sub(mean).div(std)``) then run ONCE per batch on the stacked uint8 tensor, with the very same
float32 operations torchvision applies per image, so the tensors are bit-identical. Images of any
other size still go through the transform's own geometric steps (exact PIL path) before that.

Only a transform this module recognises step by step gets the split; anything else (a user's own
preprocess, a subclass, extra steps) makes :func:`split_preprocess` return None and the scan keeps
calling the transform per image, exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image


@dataclass(frozen=True)
class BatchPreprocess:
    """``preprocess`` as a per-view uint8 step (:meth:`to_uint8`) plus a per-batch tensor step (:meth:`batch`)."""

    size: int  # S: every view comes out S x S
    geometric: tuple[Callable[[Image.Image], Image.Image], ...]  # the transform's PIL -> PIL steps, in order
    mean: torch.Tensor  # float32 [3, 1, 1], as torchvision's normalize builds it
    std: torch.Tensor
    square_is_identity: bool = True  # the geometric steps leave an S x S RGB image untouched

    def to_uint8(self, image: Image.Image | np.ndarray) -> np.ndarray:
        """The view's pixels after the geometric steps: uint8 S x S x 3.

        An RGB array already S x S is returned as is when the geometric steps are the identity on
        it; anything else goes through the transform's own steps on a PIL image.
        """
        if isinstance(image, np.ndarray):
            if self.square_is_identity and image.shape == (self.size, self.size, 3) and image.dtype == np.uint8:
                return image
            image = Image.fromarray(image, mode="RGB")
        elif self.square_is_identity and image.mode == "RGB" and image.size == (self.size, self.size):
            return np.asarray(image, dtype=np.uint8)
        for step in self.geometric:
            image = step(image)
        out = np.asarray(image.convert("RGB") if image.mode != "RGB" else image, dtype=np.uint8)
        if out.shape != (self.size, self.size, 3):  # the recogniser's promise broken: never silently
            raise AssertionError(f"preprocess geometric steps gave {out.shape}, expected {(self.size, self.size, 3)}")
        return out

    def batch(self, views: torch.Tensor) -> torch.Tensor:
        """uint8 [..., S, S, 3] -> normalised float32 [..., 3, S, S], as ToTensor + Normalize per image."""
        # contiguous like ToTensor's output: the model's kernels then see the layout they always saw
        chw = views.movedim(-1, -3).contiguous()
        return chw.to(torch.float32).div(255).sub_(self.mean).div_(self.std)


def split_preprocess(preprocess: Any) -> BatchPreprocess | None:
    """A :class:`BatchPreprocess` equal to ``preprocess``, or None when it is not open_clip's standard one.

    Recognised: a torchvision ``Compose`` of ``Resize`` (to S, or S x S) / ``CenterCrop(S)`` /
    open_clip's ``MaybeConvertMode("RGB")`` steps, then ``ToTensor`` or open_clip's
    ``MaybeToTensor``, then ``Normalize`` with 3 channels. Types are matched exactly (no subclasses),
    so an overridden step is never skipped.
    """
    try:
        from open_clip.transform import MaybeConvertMode, MaybeToTensor
        from torchvision.transforms import CenterCrop, Compose, Normalize, Resize, ToTensor
    except ImportError:  # pragma: no cover - both ship with open_clip
        return None
    if type(preprocess) is not Compose or len(preprocess.transforms) < 2:
        return None
    *geometric, to_tensor, normalize = preprocess.transforms
    if type(to_tensor) not in (ToTensor, MaybeToTensor) or type(normalize) is not Normalize:
        return None
    size: int | None = None  # the side the steps so far are known to produce, None while unknown
    sides: list[int] = []  # every side a step resizes or crops to
    for step in geometric:
        if type(step) is Resize:
            side = _square_side(step.size)
            if getattr(step, "max_size", None) is not None or side is None:
                return None
            # Resize(S) matches the SHORTER side to S: square output only from a square input
            square_out = not isinstance(step.size, int) and len(step.size) == 2
            size = side if square_out or size is not None else None
        elif type(step) is CenterCrop:
            side = _square_side(step.size)
            if side is None or (size is not None and side > size):
                return None  # a crop larger than the image pads: not worth recognising
            size = side
        elif type(step) is MaybeConvertMode:
            if getattr(step, "mode", None) != "RGB":
                return None
            continue
        else:
            return None
        sides.append(side)
    if size is None:
        return None  # the output side depends on the input's aspect ratio: no fixed S x S to stack
    mean = torch.as_tensor(normalize.mean, dtype=torch.float32)
    std = torch.as_tensor(normalize.std, dtype=torch.float32)
    if mean.numel() != 3 or std.numel() != 3 or bool((std == 0).any()):
        return None
    # a resize or crop to another side changes an S x S image: it then always takes the PIL steps
    identity = all(side == size for side in sides)
    return BatchPreprocess(int(size), tuple(geometric), mean.view(-1, 1, 1), std.view(-1, 1, 1), identity)


def _square_side(size: Any) -> int | None:
    """The side S of an int / [S] / (S, S) torchvision size, else None."""
    if isinstance(size, int):
        return size
    if isinstance(size, Sequence) and len(size) in (1, 2) and all(isinstance(s, int) for s in size):
        return size[0] if len(size) == 1 or size[0] == size[1] else None
    return None
