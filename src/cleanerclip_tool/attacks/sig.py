"""SIG (Barni et al., 2019): a horizontal sinusoidal signal over the image.

The signal is ``amplitude * sin(2π · col · frequency / width)``: it varies along the width only (the
same on every row), with ``frequency`` full periods across the image whatever its size. CleanCLIP's
code uses amplitude 60/255 and 6 periods and then *blends* the signal like Blended
(``0.8 * image + 0.2 * signal``); that is the default ``mode="blend"`` here, the setting of the
CleanCLIP and CleanerCLIP experiments. ``mode="add"`` is the SIG paper's additive form
(``image + signal``, clipped), in which ``amplitude`` is the full stripe strength.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cleanerclip_tool.attacks.base import Trigger, require_choice, require_interval

MODES = ("blend", "add")


@dataclass(frozen=True)
class SigParams:
    amplitude: float = 60 / 255  # [CleanCLIP code] on the 0..1 pixel scale
    frequency: float = 6.0  # [CleanCLIP code, SIG paper] periods across the width
    mode: str = "blend"  # [CleanCLIP code] "blend" (with alpha) or "add" (SIG paper)
    alpha: float = 0.2  # [CleanCLIP code] blend weight of the signal in "blend" mode


class SigTrigger(Trigger):
    """Add (or blend in) a sinusoid that varies along the image's width."""

    name = "sig"
    Params = SigParams

    def validate(self) -> None:
        p: SigParams = self.params
        require_choice("sig", "mode", p.mode, MODES)
        require_interval("sig", "amplitude", p.amplitude, "(0, 1]")
        require_interval("sig", "frequency", p.frequency, "(0, inf)")
        require_interval("sig", "alpha", p.alpha, "(0, 1]")

    def signal(self, width: int) -> np.ndarray:
        """One row of the signal (0..255 scale), shape (width,)."""
        cols = np.arange(width, dtype=np.float64)
        return self.params.amplitude * 255.0 * np.sin(2.0 * np.pi * cols * self.params.frequency / width)

    def apply_array(self, image: np.ndarray, index: int) -> np.ndarray:
        p: SigParams = self.params
        row = self.signal(image.shape[1])[None, :, None]
        if p.mode == "add":
            return image.astype(np.float64) + row
        return (1.0 - p.alpha) * image.astype(np.float64) + p.alpha * row
