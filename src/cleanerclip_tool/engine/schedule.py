"""Learning rate: linear warmup, then cosine decay to zero [CleanCLIP code, src/scheduler.py].

A pure function of the step, so resuming needs no scheduler state beyond the step count.
"""

from __future__ import annotations

import math


def lr_at(step: int, *, base_lr: float, warmup: int, total_steps: int) -> float:
    """``step`` is 0-based: warmup reaches ``base_lr`` at step ``warmup - 1``."""
    if warmup > 0 and step < warmup:
        return base_lr * (step + 1) / warmup
    decay_steps = max(1, total_steps - warmup)
    progress = min(1.0, (step - warmup) / decay_steps)
    return 0.5 * (1.0 + math.cos(math.pi * progress)) * base_lr
