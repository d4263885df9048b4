"""One training step: forward both towers once, the loss terms, backward, the optimizer update.

Kept apart from the loop so the arithmetic of a step can be read, benchmarked
(benchmarks/bench_step.py) and probed for memory (engine/memory.py) on its own.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from collections.abc import Callable
from typing import Any

import torch

from cleanerclip_tool.engine.distributed import DistInfo, gather_with_grad
from cleanerclip_tool.losses import BatchFeatures, PurifyLoss

LOGIT_SCALE_MAX = math.log(100)  # CleanCLIP and open_clip clamp the learnt temperature to ln 100

Autocast = Callable[[], Any]
SubcaptionTokens = dict[int, tuple[torch.Tensor, torch.Tensor]]  # data row → (positive, negative) tokens


def autocast_for(device: torch.device, precision: str) -> tuple[Autocast, bool]:
    """(autocast context factory, use GradScaler). 'amp' means fp16 + GradScaler on CUDA; on the
    CPU fp16 autocast is unsupported and bf16 is slower than fp32 on most CPUs, so 'amp' runs fp32."""
    if precision == "bf16":
        return (lambda: torch.autocast(device.type, dtype=torch.bfloat16)), False
    if precision == "amp" and device.type == "cuda":
        return (lambda: torch.autocast("cuda", dtype=torch.float16)), True
    return contextlib.nullcontext, False


def forward_loss(
    model: torch.nn.Module,
    loss_fn: PurifyLoss,
    batch: dict[str, Any],
    subcaption_tokens: SubcaptionTokens,
    device: torch.device,
    autocast: Autocast,
    dist: DistInfo,
    frozen: torch.nn.Module | None = None,
) -> dict[str, torch.Tensor]:
    """One forward pass per tower over everything the loss terms need, then the (gathered) terms.

    The image tower sees the clean images, or their AutoAugment views instead when a term needs
    ``"augmented_images"``, then the views as extra rows when a term needs ``"augmented"``. The text
    tower sees, stacked: the captions, their augmented versions (``"augmented"``), then the positive
    and the negative sub-captions of the batch rows in S. ``frozen``, the frozen starting model of
    terms that need ``"frozen"``, encodes the same images and captions without gradients.
    """
    image_key = "aug_image" if loss_fn.needs("augmented_images") else "image"
    images = batch[image_key].to(device, non_blocking=True)
    texts = batch["tokens"].to(device, non_blocking=True)
    b = images.shape[0]
    augmented = loss_fn.needs("augmented")
    if augmented:
        images = torch.cat([images, batch["aug_image"].to(device, non_blocking=True)])
        texts = torch.cat([texts, batch["aug_tokens"].to(device, non_blocking=True)])
    rows = batch["row"].tolist()
    subcaptions = loss_fn.needs("subcaptions")
    in_s = [k for k, row in enumerate(rows) if row in subcaption_tokens] if subcaptions else []
    if in_s:
        positive = torch.stack([subcaption_tokens[rows[k]][0] for k in in_s]).to(device)
        negative = torch.stack([subcaption_tokens[rows[k]][1] for k in in_s]).to(device)
        texts = torch.cat([texts, positive, negative])
    frozen_output = None
    if loss_fn.needs("frozen"):
        if frozen is None:
            raise ValueError("this loss needs the frozen starting model (frozen=...)")
        with torch.no_grad(), autocast():
            frozen_output = frozen(image=images[:b], text=texts[:b])
    with autocast():
        output = model(image=images, text=texts)
    image_features = output["image_features"].float()
    text_features = output["text_features"].float()
    features = BatchFeatures(
        image=image_features[:b], text=text_features[:b], logit_scale=output["logit_scale"].float()
    )
    if augmented:
        features = _with(features, aug_image=image_features[b:], aug_text=text_features[b : 2 * b])
    if frozen_output is not None:
        frozen_image = frozen_output["image_features"].float()
        features = _with(features, frozen_image=frozen_image, frozen_text=frozen_output["text_features"].float())
    if subcaptions:
        t0, m = 2 * b, len(in_s)
        mask = torch.zeros(b, dtype=torch.bool, device=device)
        if in_s:
            mask[torch.tensor(in_s, device=device)] = True
        features = _with(
            features, positive=text_features[t0 : t0 + m], negative=text_features[t0 + m : t0 + 2 * m], in_s=mask
        )
    return loss_fn(features, lambda t: gather_with_grad(t, dist))


def _with(features: BatchFeatures, **changes: torch.Tensor) -> BatchFeatures:
    return dataclasses.replace(features, **changes)


def backward(terms: dict[str, torch.Tensor], accum_steps: int, scaler: torch.amp.GradScaler | None) -> None:
    """Accumulate the gradients of ``total`` (averaged over the accumulated micro-batches)."""
    loss = terms["total"] / accum_steps
    if scaler is not None:
        scaler.scale(loss).backward()
    else:
        loss.backward()


def optimizer_step(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None,
    *,
    lr: float,
    grad_clip: float | None,
) -> bool:
    """Apply the accumulated gradients at ``lr``; False when AMP's GradScaler skipped the update.

    GradScaler skips the update when the fp16 gradients hold inf/NaN and lowers its scale: such a
    step trained nothing, so the caller counts and shows it.
    """
    for group in optimizer.param_groups:
        group["lr"] = lr
    if scaler is not None:
        scaler.unscale_(optimizer)
    if grad_clip:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    applied = True
    if scaler is not None:
        scale_before = scaler.get_scale()
        scaler.step(optimizer)
        scaler.update()
        applied = scaler.get_scale() >= scale_before
    else:
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    with torch.no_grad():
        model.logit_scale.clamp_(0, LOGIT_SCALE_MAX)
    return applied


def param_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """No weight decay on norms, biases and the temperature, by name [CleanCLIP code, src/main.py]."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exclude = "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name
        (no_decay if exclude else decay).append(p)
    return [{"params": no_decay, "weight_decay": 0.0}, {"params": decay, "weight_decay": weight_decay}]
