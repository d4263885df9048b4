"""Our CleanCLIP step side by side with CleanCLIP's own ``train`` step, in one process.

CleanCLIP's code (github nishadsinghi/CleanCLIP) is not part of this repository: the caller gives
the path of a checkout and its modules are imported from there at run time. Only what the import
needs is stubbed (``wandb``, which ``src/train.py`` imports but the step does not call unless
``options.wandb``).

Both models get the same weights (OpenAI-style state dicts: open_clip's and CleanCLIP's models use
the same key names) and the same batch; before anything is timed the two losses must agree and the
parameter counts must be equal. Then the sides take turns step by step (round-robin).

A *side* is one model with its optimizer and the step to time. Besides ``ours`` (the step
``purify`` runs, engine/loop.py ``_Run``) and ``theirs`` (CleanCLIP's ``train`` over a one-batch
loader), variants of ours change one setting each, so a difference can be pinned on one cause:

    ours-noclip      no gradient clipping (CleanCLIP clips nothing)
    ours-foreach0    AdamW(foreach=False)        ours-fused    AdamW(fused=True)
    ours-cl          model in channels_last      theirs-cl     their model in channels_last
"""

from __future__ import annotations

import copy
import importlib
import logging
import resource
import statistics
import sys
import time
import types
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cleanerclip_tool.config import PurifyConfig
from cleanerclip_tool.engine import step as engine_step
from cleanerclip_tool.engine.distributed import DistInfo
from cleanerclip_tool.engine.schedule import lr_at
from cleanerclip_tool.losses import PurifyLoss

# A ResNet CLIP small enough to develop the comparison on (CleanCLIP's ``build`` derives the
# architecture from the state dict: text heads = width // 64, vision heads = width * 32 // 64).
RN_TINY = {
    "embed_dim": 64,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 64, "layers": [1, 1, 1, 1], "width": 16, "patch_size": None},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 128, "heads": 2, "layers": 2},
}

SIDES = ("theirs", "ours", "ours-noclip", "ours-foreach0", "ours-fused", "ours-cl", "theirs-cl")


def import_cleanclip(checkout: str | Path) -> types.SimpleNamespace:
    """CleanCLIP's model builder, loss, train step and scheduler, imported from ``checkout``."""
    root = Path(checkout).resolve()
    if not (root / "src" / "train.py").is_file() or not (root / "pkgs" / "openai" / "model.py").is_file():
        raise SystemExit(f"{root} does not look like a CleanCLIP checkout (src/train.py, pkgs/openai/model.py)")
    if "wandb" not in sys.modules:
        try:
            importlib.import_module("wandb")
        except ImportError:
            sys.modules["wandb"] = types.ModuleType("wandb")  # imported by src/train.py, unused here
    for name in [n for n in sys.modules if n in ("src", "pkgs", "utils") or n.startswith(("src.", "pkgs.", "utils."))]:
        del sys.modules[name]  # another package called src/pkgs/utils must not shadow the checkout's
    sys.path.insert(0, str(root))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = importlib.import_module("pkgs.openai.model")
            clip = importlib.import_module("pkgs.openai.clip")
            train = importlib.import_module("src.train")
            scheduler = importlib.import_module("src.scheduler")
    finally:
        sys.path.remove(str(root))
    return types.SimpleNamespace(
        build=model.build,
        convert_models_to_fp32=clip.convert_models_to_fp32,
        get_loss=train.get_loss,
        train=train.train,
        cosine_scheduler=scheduler.cosine_scheduler,
        root=root,
    )


def our_model(arch: str) -> torch.nn.Module:
    """Our model as ``purify`` holds it: open_clip's CLIP, random init (OpenAI RN nets use QuickGELU)."""
    import open_clip

    if arch == "rn-tiny":
        model = open_clip.CLIP(**RN_TINY)
    else:
        logging.disable(logging.WARNING)  # "no pretrained weights loaded": random init is the point
        try:
            model = open_clip.create_model(arch, pretrained=None, force_quick_gelu=True)
        finally:
            logging.disable(logging.NOTSET)
    model.output_dict = True
    return model.train()


def their_model(cc: types.SimpleNamespace, state_dict: dict[str, torch.Tensor]) -> torch.nn.Module:
    """CleanCLIP's model as its main.py holds it on the CPU: ``build`` (which halves the weights),
    ``convert_models_to_fp32`` (what its ``load`` does), ``.float()``, then the checkpoint's
    state dict loaded in fp32 so the weights equal ours exactly."""
    model = cc.build(copy.deepcopy(state_dict), pretrained=False)
    cc.convert_models_to_fp32(model)
    model.float()
    model.load_state_dict(state_dict)
    return model.train()


def param_count(model: torch.nn.Module) -> tuple[int, int]:
    """(parameter tensors, parameter elements)."""
    params = list(model.parameters())
    return len(params), sum(p.numel() for p in params)


# --- the batch ------------------------------------------------------------------------------------


def make_batch(b: int, size: int, ctx: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Images, augmented images, captions and augmented captions: each caption is SOT, random
    words, EOT (the highest id, where both models pool the text features), zero padding."""
    g = torch.Generator().manual_seed(seed)

    def tokens() -> torch.Tensor:
        t = torch.zeros(b, ctx, dtype=torch.long)
        for i in range(b):
            n = int(torch.randint(4, ctx - 2, (1,), generator=g))
            t[i, 0] = 49406
            t[i, 1 : n + 1] = torch.randint(1, 49406, (n,), generator=g)
            t[i, n + 1] = 49407
        return t

    return {
        "image": torch.randn(b, 3, size, size, generator=g),
        "aug_image": torch.randn(b, 3, size, size, generator=g),
        "tokens": tokens(),
        "aug_tokens": tokens(),
        "row": torch.arange(b),
    }


class _OneBatchLoader:
    """What CleanCLIP's ``train`` reads from ``data["train"]``: one in-modal batch per epoch."""

    def __init__(self, batch: dict[str, torch.Tensor]) -> None:
        b = batch["image"].shape[0]
        mask = torch.empty(b)
        self.item = {
            "input_ids": [batch["tokens"], batch["aug_tokens"]],
            "attention_mask": [mask, mask],
            "pixel_values": [batch["image"], batch["aug_image"]],
        }
        self.num_samples, self.num_batches = b, 1

    def __iter__(self):
        yield self.item


def their_options(b: int) -> types.SimpleNamespace:
    """CleanCLIP's command-line options for its CleanCLIP recipe (in-modal on, clip and in-modal
    weight 1), on one CPU process, logging off."""
    return types.SimpleNamespace(
        inmodal=True, distributed=False, unlearn=False, device="cpu", clip_weight=1.0, inmodal_weight=1.0,
        batch_size=b, master=False, wandb=False, rank=0, num_devices=1,
    )  # fmt: skip


# --- the sides ------------------------------------------------------------------------------------


@dataclass
class Side:
    name: str
    model: torch.nn.Module
    step: Callable[[], None]
    loss: Callable[[], float]  # the loss on the batch, no update
    seconds: list[float] = field(default_factory=list)
    faults: list[int] = field(default_factory=list)  # minor page faults per step
    cpu: list[float] = field(default_factory=list)  # process CPU seconds (all threads) per step

    def timed_step(self) -> tuple[float, int, float]:
        f0, c0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time()
        t = time.perf_counter()
        self.step()
        seconds = time.perf_counter() - t
        return seconds, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0, time.process_time() - c0


def make_ours(name: str, state_dict: dict, arch: str, batch: dict, config: PurifyConfig) -> Side:
    """The step ``purify`` runs (engine/loop.py ``_Run.train_step`` + ``optimizer_step``) at
    ``config``'s settings, with one setting changed for the ``ours-*`` variants."""
    model = our_model(arch)
    model.load_state_dict(state_dict)
    grad_clip = None if name == "ours-noclip" else config.grad_clip
    opt_kw: dict[str, Any] = (
        {"foreach": False} if name == "ours-foreach0" else {"fused": True} if name == "ours-fused" else {}
    )
    if name == "ours-cl":
        model = model.to(memory_format=torch.channels_last)
    groups = engine_step.param_groups(model, config.weight_decay)
    opt = torch.optim.AdamW(groups, lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps, **opt_kw)
    loss_fn = PurifyLoss.from_config(config)
    device, dist = torch.device("cpu"), DistInfo()
    autocast, _ = engine_step.autocast_for(device, config.precision)
    state = {"step": 0}

    def step() -> None:
        terms = engine_step.forward_loss(model, loss_fn, batch, {}, device, autocast, dist)
        bool(torch.isfinite(terms["total"]).item())  # the loop's non-finite check
        engine_step.backward(terms, config.accum_steps, None)
        lr = lr_at(state["step"], base_lr=config.lr, warmup=config.warmup, total_steps=10**6)
        engine_step.optimizer_step(model, opt, None, lr=lr, grad_clip=grad_clip)
        state["step"] += 1

    def loss() -> float:
        with torch.no_grad():
            return float(engine_step.forward_loss(model, loss_fn, batch, {}, device, autocast, dist)["total"])

    return Side(name, model, step, loss)


def make_theirs(name: str, cc: types.SimpleNamespace, state_dict: dict, batch: dict, config: PurifyConfig) -> Side:
    """CleanCLIP's ``train`` (src/train.py) over a one-batch loader, with the optimizer its
    src/main.py builds (AdamW, no weight decay on bn/ln/bias/logit_scale) and its GradScaler
    (disabled without CUDA, as on a CPU run of its code)."""
    model = their_model(cc, state_dict)
    if name == "theirs-cl":
        model = model.to(memory_format=torch.channels_last)
    decay, no_decay = [], []
    for n, p in model.named_parameters():  # src/main.py's rule
        if p.requires_grad:
            (no_decay if any(k in n for k in ("bn", "ln", "bias", "logit_scale")) else decay).append(p)
    opt = torch.optim.AdamW(
        [{"params": no_decay, "weight_decay": 0}, {"params": decay, "weight_decay": config.weight_decay}],
        lr=config.lr, betas=(config.beta1, config.beta2), eps=config.eps,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scaler = torch.amp.GradScaler("cuda", enabled=torch.cuda.is_available())
    scheduler = cc.cosine_scheduler(opt, config.lr, config.warmup, 10**6)
    b = batch["image"].shape[0]
    options = their_options(b)
    data = {"train": _OneBatchLoader(batch)}
    state = {"epoch": 0}

    def step() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # torch.cuda.amp.autocast's deprecation / no-CUDA warnings
            cc.train(state["epoch"], model, data, opt, scheduler, scaler, options)
        state["epoch"] += 1  # one batch per "epoch": the scheduler's step advances like ours

    def loss() -> float:
        item = data["train"].item
        with torch.no_grad():
            outputs = model(
                input_ids=torch.cat(item["input_ids"]),
                attention_mask=torch.cat(item["attention_mask"]),
                pixel_values=torch.cat(item["pixel_values"]),
            )
            value, _, _ = cc.get_loss(model, outputs, torch.nn.CrossEntropyLoss(), options, None)
        return float(value)

    return Side(name, model, step, loss)


def build_sides(
    names: list[str], cc: types.SimpleNamespace, arch: str, b: int, order: str, config: PurifyConfig
) -> tuple[list[Side], dict[str, Any]]:
    """The sides in ``names``' order, built ours-first or theirs-first; the shared weights come from
    one seeded open_clip model. Returns the sides and the batch's facts."""
    torch.manual_seed(0)
    reference = our_model(arch)
    state_dict = {k: v.clone() for k, v in reference.state_dict().items()}
    size = reference.visual.image_size
    size = size[0] if isinstance(size, tuple) else size
    ctx = reference.context_length
    del reference
    batch = make_batch(b, size, ctx)
    build_order = sorted(names, key=lambda n: n.startswith("theirs") != (order == "theirs-first"))
    built: dict[str, Side] = {}
    for name in build_order:
        if name.startswith("theirs"):
            built[name] = make_theirs(name, cc, state_dict, batch, config)
        else:
            built[name] = make_ours(name, state_dict, arch, batch, config)
    return [built[n] for n in names], {"image_size": size, "context_length": ctx}


def check_equal(sides: list[Side], tol: float = 1e-5) -> list[tuple[str, float, int, int]]:
    """Every side's loss on the batch and parameter count; they must agree before timing."""
    rows = []
    for s in sides:
        tensors, elements = param_count(s.model)
        rows.append((s.name, s.loss(), tensors, elements))
    ref = rows[0]
    for name, value, tensors, elements in rows[1:]:
        if abs(value - ref[1]) > tol * max(1.0, abs(ref[1])):
            raise SystemExit(f"loss of {name} ({value:.8f}) differs from {ref[0]} ({ref[1]:.8f})")
        if (tensors, elements) != ref[2:]:
            raise SystemExit(f"{name} has {tensors} tensors / {elements} parameters, {ref[0]} {ref[2]} / {ref[3]}")
    return rows


def run_round_robin(sides: list[Side], repeats: int, warmup: int = 2, swap: bool = True) -> None:
    """``warmup`` uncounted rounds, then ``repeats`` counted rounds; each round runs every side once.
    With ``swap`` the order within a round reverses every round (A B, B A, ...), so neither side
    always runs right after the other."""
    for i in range(warmup + repeats):
        order = sides if not swap or i % 2 == 0 else sides[::-1]
        for s in order:
            seconds, faults, cpu = s.timed_step()
            if i >= warmup:
                s.seconds.append(seconds)
                s.faults.append(faults)
                s.cpu.append(cpu)


def profile_sides(sides: list[Side], top: int = 16) -> str:
    """Self CPU time per op of one step of each side (after the timing), the top ops side by side."""
    from torch.profiler import ProfilerActivity, profile

    per: dict[str, dict[str, tuple[float, int]]] = {}
    for s in sides:
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            s.step()
        per[s.name] = {e.key: (e.self_cpu_time_total / 1e6, e.count) for e in prof.key_averages()}
    names = [s.name for s in sides]
    everywhere = {k: sum(per[n].get(k, (0.0, 0))[0] for n in names) for s in per.values() for k in s}
    keys = sorted(everywhere, key=lambda k: -everywhere[k])[:top]
    lines = [f"| {'op (self CPU s, calls)':<42} | " + " | ".join(f"{n:>20}" for n in names) + " |"]
    lines.append(f"|{'-' * 44}|" + "|".join("-" * 22 for _ in names) + "|")
    for k in keys:
        cells = [per[n].get(k, (0.0, 0)) for n in names]
        lines.append(f"| {k[:42]:<42} | " + " | ".join(f"{t:12.2f} ({c:5d})" for t, c in cells) + " |")
    totals = [sum(t for t, _ in per[n].values()) for n in names]
    lines.append(f"| {'all ops':<42} | " + " | ".join(f"{t:12.2f}        " for t in totals) + " |")
    return "\n".join(lines)


def summary(sides: list[Side]) -> list[tuple[str, float, float, float, float]]:
    """(name, median s, ratio to the first side's median, median minor page faults, median CPU s)."""
    base = statistics.median(sides[0].seconds)
    med = statistics.median
    return [(s.name, med(s.seconds), med(s.seconds) / base, med(s.faults), med(s.cpu)) for s in sides]
