"""The one small interface every trigger implements.

A trigger turns a clean RGB PIL image into a triggered one of the same size. It works on the image
at its *native* size, before the model's own preprocess, because that is where a poisoner acts:
CleanCLIP's code resizes to 224x224 and then applies the trigger, and a toy-world image is 32x32.
Sizes are therefore given as a fraction of the image (or in pixels) so one parameter set scales.

Determinism: a trigger is built with an attack ``seed``; anything fixed per attack (Blended's
pattern, WaNet's warping field) is drawn from ``np.random.default_rng(seed)``, anything drawn per
image (BadNet's noise and location) from ``np.random.default_rng([seed, index])``, so poisoning a
set twice, or scanning twice, gives byte-identical images.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from cleanerclip_tool.errors import BadInputError


class Trigger(ABC):
    """Image in, image out; seeded; parameters in a dataclass (``Params``) with the papers' defaults."""

    name: ClassVar[str]
    Params: ClassVar[type]
    #: True when the trigger needs an artefact (an encoder, an optimised patch, a user image).
    needs_artefact: ClassVar[bool] = False

    def __init__(self, params: Any | None = None, *, seed: int = 0) -> None:
        self.params = params if params is not None else self.Params()
        if not isinstance(self.params, self.Params):
            raise TypeError(f"{type(self).__name__} expects {self.Params.__name__}, got {type(params).__name__}")
        self.seed = int(seed)
        self.validate()

    # -- what subclasses implement -------------------------------------------------------------
    def validate(self) -> None:
        """Raise ``BadInputError`` for parameters that make no sense (called once at construction)."""
        return None  # optional hook: most triggers accept whatever their dataclass allows

    @abstractmethod
    def apply_array(self, image: np.ndarray, index: int) -> np.ndarray:
        """Trigger an ``uint8`` HxWx3 array; return an array of the same shape (any dtype, 0..255)."""

    # -- the public face ---------------------------------------------------------------------------
    def apply(self, image: Image.Image, index: int = 0) -> Image.Image:
        """RGB in, RGB out, same size; deterministic for ``(seed, index)``."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        return Image.fromarray(self.apply_uint8(np.asarray(image, dtype=np.uint8), index), mode="RGB")

    def apply_uint8(self, image: np.ndarray, index: int = 0) -> np.ndarray:
        """``apply`` on arrays: uint8 HxWx3 in, uint8 HxWx3 out, pixel for pixel what ``apply`` returns.

        The scan triggers thousands of small images; skipping the PIL round-trips of ``apply`` (array
        out of the image, image out of the array) matters there. ``image`` is never modified.
        """
        if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
            raise ValueError(f"{self.name}: expected a uint8 HxWx3 array, got {image.dtype} {image.shape}")
        out = self.apply_array(image, int(index))
        if out.shape != image.shape:  # a bug in a trigger, never the user's fault
            raise AssertionError(f"{self.name} changed the image shape {image.shape} -> {out.shape}")
        return to_uint8(out)

    def __call__(self, image: Image.Image, index: int = 0) -> Image.Image:
        return self.apply(image, index)

    def artefact_sha256(self) -> str | None:
        """SHA-256 of the file the trigger depends on (patch, encoder), so a report pins it."""
        return None

    def describe(self) -> dict[str, Any]:
        """What a manifest or scan report records so the attack can be rebuilt exactly."""
        return {
            "attack": self.name,
            "params": params_to_dict(self.params),
            "seed": self.seed,
            "artefact_sha256": self.artefact_sha256(),
        }

    def rng(self, index: int | None = None) -> np.random.Generator:
        """The attack-wide generator (``index=None``) or the per-image one."""
        return np.random.default_rng(self.seed if index is None else [self.seed, index])

    def __repr__(self) -> str:
        return f"{type(self).__name__}(seed={self.seed}, params={self.params!r})"


def to_uint8(array: np.ndarray) -> np.ndarray:
    """Round and clip to 0..255 uint8 (float triggers round half to even, consistently)."""
    if array.dtype == np.uint8:
        return array
    return np.clip(np.rint(array), 0, 255).astype(np.uint8)


def params_to_dict(params: Any) -> dict[str, Any]:
    """A JSON-friendly dict of a params dataclass (paths become strings)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(params):
        value = getattr(params, f.name)
        if isinstance(value, Path):
            value = str(value)
        elif isinstance(value, tuple):
            value = list(value)
        out[f.name] = value
    return out


def build_params(params_class: type, values: dict[str, Any], *, attack: str) -> Any:
    """Build a params dataclass from loose keyword values; unknown names are a ``BadInputError``."""
    known = {f.name: f for f in dataclasses.fields(params_class)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise BadInputError(
            f"unknown parameter(s) {', '.join(unknown)} for attack {attack!r}",
            where="--attack",
            hint=f"known: {', '.join(known) or 'none'}",
        )
    return params_class(**{k: v for k, v in values.items() if v is not None})


def require_choice(attack: str, name: str, value: Any, choices: Sequence[str]) -> None:
    """``BadInputError`` unless ``value`` is one of ``choices`` (the message lists them)."""
    if value not in choices:
        raise BadInputError(f"{name} must be one of {', '.join(choices)} (got {value!r})", where=attack)


def require_interval(attack: str, name: str, value: float | None, interval: str) -> None:
    """``BadInputError`` unless ``value`` lies in ``interval``, written as in maths: ``"(0, 1]"``,
    ``"[1, inf)"``. ``None`` (an optional parameter left unset) always passes.

    One notation for every trigger's bounds keeps the checks one line each and the messages alike.
    """
    if value is None:
        return
    low_text, high_text = (part.strip() for part in interval[1:-1].split(","))
    low, high = float(low_text), float(high_text)
    above = value > low or (interval[0] == "[" and value == low)
    below = value < high or (interval[-1] == "]" and value == high)
    if not (above and below and math.isfinite(float(value))):
        raise BadInputError(f"{name} must be in {interval} (got {value})", where=attack)


def patch_pixels(size: float, size_px: int | None, height: int, width: int) -> int:
    """A square patch's side in pixels: ``size_px`` if given, else ``size`` × the shorter side (>= 1)."""
    side = int(size_px) if size_px is not None else round(float(size) * min(height, width))
    return max(1, min(side, height, width))


def place_patch(
    position: str, side_h: int, side_w: int, height: int, width: int, rng: np.random.Generator
) -> tuple[int, int]:
    """Top-left corner (row, col) of a patch for a named position; ``random`` draws from ``rng``."""
    if position == "random":
        return int(rng.integers(0, height - side_h + 1)), int(rng.integers(0, width - side_w + 1))
    if position == "center":
        return (height - side_h) // 2, (width - side_w) // 2
    rows = {"top": 0, "bottom": height - side_h}
    cols = {"left": 0, "right": width - side_w}
    try:
        vertical, horizontal = position.split("-")
        return rows[vertical], cols[horizontal]
    except (ValueError, KeyError):
        raise BadInputError(
            f"unknown position {position!r}",
            where="position",
            hint=f"use one of {', '.join(POSITIONS)}",
        ) from None


POSITIONS: tuple[str, ...] = ("random", "center", "top-left", "top-right", "bottom-left", "bottom-right")


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
