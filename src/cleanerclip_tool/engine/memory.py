"""Running out of memory: find which batch fits, and stop or go on with it.

The batch is also the contrastive loss's set of negatives, so a smaller batch changes the
objective (gradient accumulation does not give the negatives back): without ``--auto-batch`` a
run never shrinks it; it stops with the size that fits as advice and keeps its last checkpoint.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

import torch

from cleanerclip_tool.engine import step as engine_step
from cleanerclip_tool.engine.distributed import DistInfo
from cleanerclip_tool.errors import JobFailedError
from cleanerclip_tool.losses import PurifyLoss


def free_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def probe_batch_size(
    model: torch.nn.Module,
    loss_fn: PurifyLoss,
    batch: dict[str, Any],
    subcaption_tokens: engine_step.SubcaptionTokens,
    device: torch.device,
    autocast: engine_step.Autocast,
    failed: int,
    frozen: torch.nn.Module | None = None,
) -> int | None:
    """The largest of ``failed // 2``, ``failed // 4``, ..., 1 for which a forward and backward pass
    over the first rows of ``batch`` (the data that ran out of memory) fit, or None.

    It runs on the bare model with no collectives, so one process can probe on its own; gradients
    are dropped and buffers (BatchNorm statistics) and RNG restored, so the probe leaves no trace
    in the run. It measures activations only: the optimizer's state is not allocated by a probe.
    """
    buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
    size = failed // 2
    try:
        while size >= 1:
            free_memory(device)
            fitted = False
            try:
                with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
                    part = {k: v[:size] for k, v in batch.items()}
                    terms = engine_step.forward_loss(
                        model, loss_fn, part, subcaption_tokens, device, autocast, DistInfo(), frozen=frozen
                    )
                    terms["total"].backward()
                    del terms
                fitted = True
            except torch.OutOfMemoryError:
                pass
            model.zero_grad(set_to_none=True)
            if fitted:
                return size
            size //= 2
        return None
    finally:
        with torch.no_grad():
            for name, b in model.named_buffers():
                b.copy_(buffers[name])
        model.zero_grad(set_to_none=True)
        free_memory(device)


def out_of_memory_error(
    batch_size: int, fits: int | None, step: int, out: Path, *, auto_batch: bool, distributed: bool
) -> JobFailedError:
    """The clean stop on OOM: which batch size fits, why we do not shrink it ourselves, and how to go on."""
    resume = "--resume continues from the last checkpoint"
    if fits is None:
        hint = f"not even batch size 1 fits: try --precision bf16/amp, a smaller model or a larger GPU; {resume}"
    else:
        hint = (
            f"--batch-size {fits} fits; note a smaller batch changes the contrastive objective "
            "(fewer in-batch negatives)"
        )
        if distributed and auto_batch:
            hint += f"; --auto-batch cannot lower it under torchrun (every process must change together); {resume}"
        else:
            hint += f"; or pass --auto-batch to lower it and go on; {resume}"
    return JobFailedError(
        f"out of memory at step {step} with batch size {batch_size} per process", where=out, hint=hint
    )
