"""Learning rate: linear warmup, then cosine decay [CleanCLIP code, src/scheduler.py; PAR code, utils.py].

A pure function of the step, so resuming needs no scheduler state beyond the step count.
CleanCLIP's warmup climbs from ~0 to the peak and its cosine ends at 0; PAR's recipe starts the
warmup at ``start`` (above its peak: its "warmup" goes down) and ends the cosine at ``end``.
"""

from __future__ import annotations

import math


def lr_at(
    step: int, *, base_lr: float, warmup: int, total_steps: int, start: float | None = None, end: float = 0.0
) -> float:
    """``step`` is 0-based: warmup reaches ``base_lr`` at step ``warmup - 1``.

    With ``start`` unset the warmup is CleanCLIP's, ``base_lr * (step + 1) / warmup``; with it, a
    straight line from ``start`` at step 0 to ``base_lr`` at step ``warmup - 1`` (numpy's
    ``linspace``, as PAR's code builds it). The cosine then goes from ``base_lr`` to ``end``.
    """
    if warmup > 0 and step < warmup:
        if start is None:
            return base_lr * (step + 1) / warmup
        return start + (base_lr - start) * step / max(1, warmup - 1)
    decay_steps = max(1, total_steps - warmup)
    progress = min(1.0, (step - warmup) / decay_steps)
    return end + 0.5 * (1.0 + math.cos(math.pi * progress)) * (base_lr - end)


# A warmup longer than this share of the run leaves most of it below the peak lr (the paper's 10,000
# steps on a 780-step run never pass 8% of it): such a warmup was not chosen for this run, and
# ``fit_warmup`` replaces it with the usual tenth of the run, saying so.
WARMUP_MAX_SHARE = 0.5
WARMUP_FALLBACK_SHARE = 0.1


def fit_warmup(warmup: int, total_steps: int) -> int:
    """The warmup a run of ``total_steps`` uses: ``warmup``, or a tenth of the run when ``warmup``
    is more than half of it."""
    if total_steps <= 0 or warmup <= WARMUP_MAX_SHARE * total_steps:
        return warmup
    return max(1, round(WARMUP_FALLBACK_SHARE * total_steps))


def warmup_message(warmup: int, used: int, total_steps: int) -> str:
    """Why ``used`` replaced ``warmup`` (one line, for a warning and the run's notes)."""
    peak = lr_at(total_steps - 1, base_lr=1.0, warmup=warmup, total_steps=total_steps)
    return (
        f"warmup {warmup} steps is more than half of this run's {total_steps} steps (the lr would reach "
        f"{peak:.0%} of its peak); using {used} steps ({WARMUP_FALLBACK_SHARE:.0%} of the run): "
        "pass --warmup to choose, --strict to refuse"
    )
