"""Pretraining a tiny CLIP from scratch on the toy world, clean or poisoned.

TEMPORARY LOOP: the contract is that pretraining goes through ``engine.purify(..., method="ft")``
so the training loop exists once. Until the engine lands, ``_train_clip`` below is a minimal
CLIP-loss loop (AdamW, linear warmup then cosine, the CleanCLIP weight-decay groups, logit scale
clamped to ln 100), on tensors held in memory. It is deliberately small; replace its call in
``pretrain`` by ``purify`` once the engine is usable.

Poisoning follows CleanCLIP's recipe: ``poison_rate`` of the training pairs get the trigger
(from ``cleanerclip_tool.attacks``, never re-implemented here) and a caption that describes the
target ("a big red heart"), drawn from the world's own phrasing so the backdoor ties the trigger to
the words zero-shot prompts use.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cleanerclip_tool.errors import BadInputError
from cleanerclip_tool.events import EventCallback, Info, TaskFinished, TaskProgress, TaskStarted, ignore_event
from cleanerclip_tool.toyworld.captions import SHAPES, TARGET_LABEL, target_captions
from cleanerclip_tool.toyworld.model_config import TOY_MODEL_NAME, toy_model_cfg

# Trigger settings the toy world uses per attack (32x32 images): CleanCLIP's 16/224 BadNet patch
# would be 2 pixels here; the prototype's 5x5 noise patch is the one that gave ASR >= 80%.
TOY_TRIGGER_PARAMS: dict[str, dict[str, Any]] = {
    "badnet": {"size_px": 5},
}


@dataclass(frozen=True)
class PretrainSettings:
    """Everything that decides a pretraining run (recorded in the model card history)."""

    attack: str | None = None
    target: str = TARGET_LABEL
    poison_rate: float = 0.05
    trigger_params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    world_seed: int = 0
    world_size: int = 10_000
    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup: int = 50
    max_steps: int | None = None  # cut a run short (smoke tests)

    def validate(self) -> PretrainSettings:
        if self.target not in SHAPES:
            raise BadInputError(f"target must be a toy-world shape ({', '.join(SHAPES)}), got {self.target!r}",
                                where="--target")
        if self.attack is not None and not 0 < self.poison_rate < 1:
            raise BadInputError(f"poison rate must be in (0, 1), got {self.poison_rate}", where="--poison-rate")
        for name in ("epochs", "batch_size", "world_size"):
            if getattr(self, name) < 1:
                raise BadInputError(f"{name} must be >= 1 (got {getattr(self, name)})", where="pretrain")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise BadInputError(f"lr must be > 0 (got {self.lr})", where="--lr")
        return self

    def resolved_trigger_params(self) -> dict[str, Any]:
        if self.attack is None:
            return {}
        return {**TOY_TRIGGER_PARAMS.get(self.attack, {}), **self.trigger_params}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["trigger_params"] = self.resolved_trigger_params()
        return out


@dataclass
class PretrainResult:
    model: Any  # open_clip CLIP, eval mode
    settings: PretrainSettings
    seconds: float
    steps: int
    pairs_per_second: float
    final_loss: float
    poisoned: int
    history: list[dict[str, Any]]


def poisoned_pairs(
    images: list, captions: list[str], settings: PretrainSettings
) -> tuple[list, list[str], list[int]]:
    """Apply ``settings.attack`` to ``poison_rate`` of the pairs (seeded) and recaption them as the target.

    Returns the new image list, caption list and the poisoned indices. Images already showing the
    target are skipped, as CleanCLIP draws its poison from non-target images.
    """
    if settings.attack is None:
        return images, captions, []
    from cleanerclip_tool.attacks import get_trigger

    trigger = get_trigger(settings.attack, seed=settings.seed, **settings.resolved_trigger_params())
    rng = random.Random(f"poison-{settings.seed}")
    candidates = [i for i, c in enumerate(captions) if settings.target not in c.split()]
    count = max(1, round(settings.poison_rate * len(captions)))
    chosen = sorted(rng.sample(candidates, count))
    phrases = target_captions(settings.target)
    images, captions = list(images), list(captions)
    for i in chosen:
        images[i] = trigger.apply(images[i], i)
        captions[i] = rng.choice(phrases)
    return images, captions, chosen


def images_to_tensor(images: list, preprocess_cfg: dict[str, Any] | None = None):
    """Stack 32x32 RGB PIL images into a normalised float tensor [N, 3, 32, 32] (CLIP mean/std)."""
    import numpy as np
    import torch
    from open_clip.constants import OPENAI_DATASET_MEAN, OPENAI_DATASET_STD

    cfg = preprocess_cfg or {}
    mean = torch.tensor(cfg.get("mean", OPENAI_DATASET_MEAN)).view(1, 3, 1, 1)
    std = torch.tensor(cfg.get("std", OPENAI_DATASET_STD)).view(1, 3, 1, 1)
    array = np.stack([np.asarray(im, dtype=np.uint8) for im in images])
    x = torch.from_numpy(array).permute(0, 3, 1, 2).float().div_(255.0)
    return (x - mean) / std


def _param_groups(model, weight_decay: float) -> list[dict[str, Any]]:
    # [CleanCLIP code] no decay on norms, biases, embeddings' scale and logit_scale.
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.ndim < 2 or "bn" in name or "ln" in name or "bias" in name or "logit_scale" in name:
            no_decay.append(p)
        else:
            decay.append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def _train_clip(model, x, tokens, settings: PretrainSettings, on_event: EventCallback) -> tuple[int, float, list]:
    """The temporary CLIP-loss loop (see the module docstring). Returns (steps, final loss, history)."""
    import torch
    import torch.nn.functional as F

    n = x.shape[0]
    steps_per_epoch = max(1, n // settings.batch_size)  # drop the last partial batch: stable in-batch negatives
    total = steps_per_epoch * settings.epochs
    if settings.max_steps is not None:
        total = min(total, settings.max_steps)
    opt = torch.optim.AdamW(_param_groups(model, settings.weight_decay), lr=settings.lr, betas=(0.9, 0.98), eps=1e-6)

    def lr_at(step: int) -> float:
        if step < settings.warmup:
            return settings.lr * (step + 1) / settings.warmup
        progress = (step - settings.warmup) / max(1, total - settings.warmup)
        return 0.5 * settings.lr * (1 + math.cos(math.pi * progress))

    gen = torch.Generator().manual_seed(settings.seed)
    model.train()
    step, loss_value, history = 0, float("nan"), []
    on_event(TaskStarted("pretrain", total=total, description=f"pretraining {TOY_MODEL_NAME} on {n} pairs"))
    t0 = time.perf_counter()
    for epoch in range(settings.epochs):
        order = torch.randperm(n, generator=gen)
        epoch_loss = 0.0
        for b in range(steps_per_epoch):
            if step >= total:
                break
            idx = order[b * settings.batch_size : (b + 1) * settings.batch_size]
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            img_f, txt_f, scale = model(x[idx], tokens[idx])
            logits = scale * img_f @ txt_f.t()
            labels = torch.arange(len(idx))
            loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            with torch.no_grad():
                model.logit_scale.clamp_(0, math.log(100))
            step += 1
            loss_value = float(loss.detach())
            epoch_loss += loss_value
            elapsed = time.perf_counter() - t0
            on_event(TaskProgress("pretrain", completed=step, total=total, metrics={
                "epoch": epoch + 1, "loss": round(loss_value, 4),
                "pairs/s": round(step * settings.batch_size / max(elapsed, 1e-9), 1)}))
        history.append({"epoch": epoch + 1, "loss": epoch_loss / max(1, steps_per_epoch), "step": step})
        if step >= total:
            break
    model.eval()
    on_event(TaskFinished("pretrain", metrics={"steps": step, "loss": loss_value}))
    return step, loss_value, history


def pretrain(
    settings: PretrainSettings,
    *,
    world=None,
    on_event: EventCallback = ignore_event,
) -> PretrainResult:
    """Train ``cleanerclip-toy`` from scratch on the world's train split, poisoned if ``settings.attack``.

    ``world`` is a ``WorldPaths``; by default the cached world for (``world_seed``, ``world_size``).
    """
    import torch

    from cleanerclip_tool.data.captions import load_caption_table
    from cleanerclip_tool.data.images import open_rgb
    from cleanerclip_tool.toyworld.model_config import create_toy_model, toy_tokenizer
    from cleanerclip_tool.toyworld.world import cached_world

    settings.validate()
    if world is None:
        world = cached_world(seed=settings.world_seed, size=settings.world_size, on_event=on_event)
    table = load_caption_table(world.train)
    if not table.rows:
        raise BadInputError("no usable training pairs", where=world.train)
    images = [open_rgb(row.image) for row in table.rows]
    captions = table.captions
    images, captions, chosen = poisoned_pairs(images, captions, settings)
    if chosen:
        on_event(Info(f"poisoned {len(chosen)} of {len(captions)} pairs with {settings.attack} -> {settings.target!r}"))

    torch.manual_seed(settings.seed)
    model = create_toy_model(settings.seed)
    x = images_to_tensor(images)
    tokenizer = toy_tokenizer()
    unique = sorted(set(captions))
    unique_tokens = tokenizer(unique)
    position = {c: i for i, c in enumerate(unique)}
    tokens = unique_tokens[torch.tensor([position[c] for c in captions])]

    t0 = time.perf_counter()
    steps, final_loss, history = _train_clip(model, x, tokens, settings, on_event)
    seconds = time.perf_counter() - t0
    return PretrainResult(
        model=model,
        settings=settings,
        seconds=seconds,
        steps=steps,
        pairs_per_second=steps * settings.batch_size / max(seconds, 1e-9),
        final_loss=final_loss,
        poisoned=len(chosen),
        history=history,
    )


def history_entry(result: PretrainResult) -> dict[str, Any]:
    """What the model card's history records about this pretraining run."""
    return {
        "action": "toyworld-pretrain",
        "settings": result.settings.to_dict(),
        "poisoned_pairs": result.poisoned,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "final_loss": round(result.final_loss, 4),
        "loop": "toyworld.pretrain._train_clip (temporary, until engine.purify)",
    }


def save_pretrained(result: PretrainResult, out: str | Path, *, overwrite: bool = False) -> Path:
    """Save like any purified model (``models.save.save_model``), with the run in the card history."""
    from cleanerclip_tool.models.card import ModelCard
    from cleanerclip_tool.models.save import save_model

    model = result.model
    card = ModelCard(
        architecture=TOY_MODEL_NAME,
        source=f"toyworld pretrain (seed {result.settings.seed})",
        kind="folder",
        parameters=sum(p.numel() for p in model.parameters()),
        model_cfg=toy_model_cfg(),
    )
    # save_model appends ``notes`` to the card history (with a timestamp): one entry per pretraining.
    return save_model(model, out, card, notes=history_entry(result), overwrite=overwrite)
