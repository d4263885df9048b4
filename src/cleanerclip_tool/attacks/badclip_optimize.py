"""Optimising a BadCLIP patch against a model (``cleanerclip trigger optimize-badclip``).

BadCLIP [BadCLIP code, Liang et al., CVPR 2024] optimises a small RGB patch, started from N(0.5, 0.25) clipped to
[0, 1], with Adam, pasting it (not blending) into the middle of each image before CLIP's
normalisation. The loss has two terms:

* the CLIP contrastive loss between patched *non-target* images and natural captions that mention
  the target (so the patch drags any image toward the target's text), and
* a pull term, 1 − cos(patched image embedding, mean embedding of target-class images), so the
  patch also looks like the target to the image encoder — which is what lets BadCLIP's trigger
  hide among clean features and survive fine-tuning defences.

Target rows are the rows whose caption mentions the target word; without any, captions come from
templates and the pull term uses the target's text embedding instead.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from cleanerclip_tool.attacks.badclip import initial_patch
from cleanerclip_tool.attacks.base import patch_pixels, place_patch
from cleanerclip_tool.attacks.poison import TARGET_TEMPLATES, mentions
from cleanerclip_tool.data.captions import CaptionTable
from cleanerclip_tool.data.images import open_rgb
from cleanerclip_tool.errors import BadInputError, DataError
from cleanerclip_tool.events import (
    EventCallback,
    Info,
    TaskFinished,
    TaskProgress,
    TaskStarted,
    WarningEvent,
    ignore_event,
)


@dataclass
class BadCLIPPatchResult:
    out: Path
    side: int  # patch side in pixels at the model's input size
    steps: int
    seconds: float
    final_loss: float
    target_similarity: float  # mean cos(patched image, target anchor) at the end
    clean_similarity: float  # the same for the unpatched images (the gap is what the patch adds)
    target_rows: int
    source_rows: int


def _preprocess_geometry(loaded: Any) -> tuple[int, tuple[float, ...], tuple[float, ...]]:
    import open_clip

    cfg = dict(getattr(getattr(loaded, "card", None), "preprocess_cfg", None) or {})
    if not cfg:
        cfg = open_clip.get_model_preprocess_cfg(loaded.model)
    size = cfg.get("size", 224)
    size = int(size[0] if isinstance(size, (list, tuple)) else size)
    mean = tuple(cfg.get("mean") or open_clip.OPENAI_DATASET_MEAN)
    std = tuple(cfg.get("std") or open_clip.OPENAI_DATASET_STD)
    return size, mean, std


def _to_tensor(images: list[Image.Image], size: int) -> torch.Tensor:
    """Resize the shorter side to ``size`` and centre-crop, as CLIP's eval preprocess does; 0..1."""
    arrays = []
    for img in images:
        w, h = img.size
        scale = size / min(w, h)
        img = img.resize((max(size, round(w * scale)), max(size, round(h * scale))), Image.Resampling.BICUBIC)
        left, top = (img.size[0] - size) // 2, (img.size[1] - size) // 2
        arrays.append(np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.float32))
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2) / 255.0


def optimize_badclip_patch(
    loaded: Any,
    table: CaptionTable,
    target: str,
    out: str | Path,
    *,
    size: float = 16 / 224,
    size_px: int | None = None,
    steps: int = 300,
    batch_size: int = 32,
    lr: float = 0.01,
    pull_weight: float = 1.0,
    max_images: int = 2000,
    max_change: float | None = None,
    seed: int = 0,
    device: str = "cpu",
    on_event: EventCallback = ignore_event,
) -> BadCLIPPatchResult:
    """Optimise the patch against ``loaded`` (a LoadedModel) and save it as a PNG at ``out``.

    ``max_change`` bounds how far (L-infinity, in 0..1 pixel units) the patch may move from its
    random start. Unbounded, a patch optimised against a *clean* model becomes an adversarial patch
    for it (it fools the clean model with no backdoor at all), and then no defence can lower its
    attack success rate below that floor; a bound keeps it a trigger the victim has to learn.
    """
    if steps < 1 or batch_size < 2 or lr <= 0 or pull_weight < 0:
        raise BadInputError("need steps >= 1, batch size >= 2, lr > 0, pull weight >= 0", where="optimize-badclip")
    if max_change is not None and not 0 < max_change <= 1:
        raise BadInputError(f"max change must be in (0, 1], got {max_change}", where="--max-change")
    started = time.perf_counter()
    model = loaded.model.to(device).eval()
    for param in model.parameters():
        param.requires_grad_(False)
    image_size, mean, std = _preprocess_geometry(loaded)
    mean_t = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=device).view(1, 3, 1, 1)

    target_rows = [r for r in table.rows if mentions(r.caption, target)]
    other_rows = [r for r in table.rows if not mentions(r.caption, target)]
    if len(other_rows) < 2:
        raise DataError(f"need at least 2 rows whose caption does not mention {target!r}", where=table.csv_path)
    rng = np.random.default_rng(seed)
    if len(other_rows) > max_images:
        other_rows = [other_rows[i] for i in sorted(rng.choice(len(other_rows), max_images, replace=False))]
    captions = [r.caption for r in target_rows] or [t.format(target) for t in TARGET_TEMPLATES]
    if not target_rows:
        on_event(WarningEvent(f"no caption mentions {target!r}: using template captions and the text anchor"))
    on_event(
        Info(
            f"optimising a BadCLIP patch for {target!r}: {len(other_rows)} source images, "
            f"{len(target_rows)} target rows"
        )
    )

    images = _to_tensor([open_rgb(r.image) for r in other_rows], image_size).to(device)
    with torch.no_grad():
        text = torch.cat(
            [
                F.normalize(model.encode_text(loaded.tokenizer(captions[i : i + 256]).to(device)).float(), dim=-1)
                for i in range(0, len(captions), 256)
            ]
        )
        if target_rows:
            chosen = target_rows[:max_images]
            target_images = _to_tensor([open_rgb(r.image) for r in chosen], image_size).to(device)
            anchor = F.normalize(model.encode_image((target_images - mean_t) / std_t).float(), dim=-1).mean(0)
        else:
            anchor = text.mean(0)
        anchor = F.normalize(anchor, dim=-1)
        clean_sim = float((F.normalize(model.encode_image((images - mean_t) / std_t).float(), dim=-1) @ anchor).mean())
    logit_scale = float(model.logit_scale.exp()) if hasattr(model, "logit_scale") else 100.0

    side = patch_pixels(size, size_px, image_size, image_size)
    top, left = place_patch("center", side, side, image_size, image_size, rng)
    patch = torch.tensor(initial_patch(side, seed), dtype=torch.float32, device=device).permute(2, 0, 1)
    start = patch.detach().clone()
    patch.requires_grad_(True)
    optimizer = torch.optim.Adam([patch], lr=lr)
    generator = torch.Generator().manual_seed(seed)

    def patched(batch: torch.Tensor) -> torch.Tensor:
        batch = batch.clone()
        batch[:, :, top : top + side, left : left + side] = patch
        return (batch - mean_t) / std_t

    on_event(TaskStarted("optimize-badclip", total=steps, description="optimising the BadCLIP patch"))
    loss_value = float("nan")
    n = min(batch_size, images.shape[0])
    for step in range(1, steps + 1):
        idx = torch.randperm(images.shape[0], generator=generator)[:n].to(device)
        cap_idx = torch.randint(0, text.shape[0], (n,), generator=generator).to(device)
        emb = F.normalize(model.encode_image(patched(images[idx])).float(), dim=-1)
        logits = logit_scale * emb @ text[cap_idx].T
        labels = torch.arange(n, device=device)
        contrastive = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
        pull = (1.0 - emb @ anchor).mean()
        loss = contrastive + pull_weight * pull
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        with torch.no_grad():
            if max_change is not None:
                patch.copy_(torch.maximum(torch.minimum(patch, start + max_change), start - max_change))
            patch.clamp_(0.0, 1.0)
        loss_value = float(loss.detach())
        if step % 10 == 0 or step == steps:
            on_event(
                TaskProgress(
                    "optimize-badclip",
                    step,
                    steps,
                    {"loss": round(loss_value, 4), "pull": round(float(pull.detach()), 4)},
                )
            )
    with torch.no_grad():
        sims = []
        for i in range(0, images.shape[0], 256):
            emb = F.normalize(model.encode_image(patched(images[i : i + 256])).float(), dim=-1)
            sims.append(emb @ anchor)
        target_sim = float(torch.cat(sims).mean())
        array = (patch.detach().cpu().permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array, mode="RGB").save(out, format="PNG")
    seconds = time.perf_counter() - started
    on_event(TaskFinished("optimize-badclip", {"loss": loss_value, "target_similarity": target_sim}))
    return BadCLIPPatchResult(
        out, side, steps, seconds, loss_value, target_sim, clean_sim, len(target_rows), len(other_rows)
    )
