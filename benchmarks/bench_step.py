"""Step time of FT, CleanCLIP and CleanerCLIP on the same model and batch, in one run.

The CFA term must stay light: at the paper's K vs data-set ratio (K=1000 of ~100k pairs, so ~1% of
a batch is in S) a CleanerCLIP step should cost at most 1.10x a CleanCLIP step. We also show the
worst case, a batch entirely in S (2 extra text passes per row).

    python benchmarks/bench_step.py [--arch tiny|ViT-B-32|RN50] [--batch-size 64] [--repeats 10]
                                    [--device cuda] [--precision fp32|bf16]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from _machine import machine_lines

from cleanerclip_tool.config import PurifyConfig
from cleanerclip_tool.engine.distributed import DistInfo
from cleanerclip_tool.engine.step import forward_loss
from cleanerclip_tool.losses import PurifyLoss

TINY = {
    "embed_dim": 96,
    "vision_cfg": {"image_size": 32, "layers": 3, "width": 96, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 24, "vocab_size": 49408, "width": 96, "heads": 3, "layers": 2},
}


def build(arch: str, device: torch.device) -> tuple[torch.nn.Module, int, int]:
    import open_clip

    if arch == "tiny":
        model = open_clip.CLIP(**TINY)
    else:
        model = open_clip.create_model(arch, pretrained=None)
    model.output_dict = True
    size = model.visual.image_size
    size = size[0] if isinstance(size, tuple) else size
    return model.to(device).train(), size, model.context_length


def make_batch(b: int, size: int, ctx: int, in_s: int, device: torch.device):
    g = torch.Generator().manual_seed(0)
    batch = {
        "image": torch.randn(b, 3, size, size, generator=g),
        "aug_image": torch.randn(b, 3, size, size, generator=g),
        "tokens": torch.randint(1, 49407, (b, ctx), generator=g),
        "aug_tokens": torch.randint(1, 49407, (b, ctx), generator=g),
        "row": torch.arange(b),
    }
    cfa = {
        i: (torch.randint(1, 49407, (ctx,), generator=g), torch.randint(1, 49407, (ctx,), generator=g))
        for i in range(in_s)
    }
    return batch, cfa


def autocast_for(precision: str, device: torch.device):
    """The engine's precisions: fp32 runs as is; bf16 autocasts (no GradScaler needed, unlike fp16)."""
    if precision == "bf16":
        return lambda: torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext


def loss_for(method: str) -> PurifyLoss:
    """The engine's loss for ``method`` at the default settings."""
    return PurifyLoss.from_config(PurifyConfig(method=method))


def one_step(model, loss_fn: PurifyLoss, opt, batch, cfa, device, autocast=contextlib.nullcontext) -> float:
    """Seconds for one forward + backward + optimizer step."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    terms = forward_loss(model, loss_fn, batch, cfa, device, autocast, DistInfo())
    terms["total"].backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def time_steps(model, cases, batch, device, repeats: int, autocast=contextlib.nullcontext) -> list[float]:
    """Median step time per case. The cases take turns step by step (round-robin), so a slow spell
    on a shared machine hits them all alike instead of skewing the ratio between them."""
    runs = [(loss_for(method), torch.optim.AdamW(model.parameters(), lr=1e-5), cfa) for _, method, cfa in cases]
    times: list[list[float]] = [[] for _ in cases]
    for i in range(repeats + 2):
        for k, (loss_fn, opt, cfa) in enumerate(runs):
            seconds = one_step(model, loss_fn, opt, batch, cfa, device, autocast)
            if i >= 2:  # warm-up rounds are not counted
                times[k].append(seconds)
    return [statistics.median(t) for t in times]


def peak_memory(model, cases, batch, device, autocast=contextlib.nullcontext) -> list[float | None]:
    """Peak CUDA memory (MiB) of one step per case, measured alone after the timing (None on CPU).

    The optimizer state is created first (one unmeasured step) so the peak is that of a steady step.
    """
    if device.type != "cuda":
        return [None for _ in cases]
    peaks: list[float | None] = []
    for _, method, cfa in cases:
        loss_fn, opt = loss_for(method), torch.optim.AdamW(model.parameters(), lr=1e-5)
        one_step(model, loss_fn, opt, batch, cfa, device, autocast)
        torch.cuda.reset_peak_memory_stats(device)
        one_step(model, loss_fn, opt, batch, cfa, device, autocast)
        peaks.append(torch.cuda.max_memory_allocated(device) / 2**20)
        del opt
        torch.cuda.empty_cache()
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default="tiny")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    args = parser.parse_args()
    device = torch.device(args.device)
    model, size, ctx = build(args.arch, device)
    b = args.batch_size
    paper_in_s = max(1, round(b * 1000 / 100_000))
    batch, cfa_paper = make_batch(b, size, ctx, paper_in_s, device)
    _, cfa_full = make_batch(b, size, ctx, b, device)
    cases = (
        ("ft", "ft", {}),
        ("cleanclip", "cleanclip", {}),
        (f"cleanerclip (|S|={paper_in_s}, paper K/N)", "cleanerclip", cfa_paper),
        (f"cleanerclip (|S|={b}, whole batch)", "cleanerclip", cfa_full),
    )
    autocast = autocast_for(args.precision, device)
    medians = time_steps(model, cases, batch, device, args.repeats, autocast)
    peaks = peak_memory(model, cases, batch, device, autocast)
    base = medians[1]
    print("\n".join(machine_lines()))
    print(f"model: {args.arch}  batch {b}  device {device}  {args.precision}  median of {args.repeats} steps\n")
    print(f"| {'method':<38} | {'step ms':>8} | {'samples/s':>9} | {'vs cleanclip':>12} | {'peak MiB':>8} |")
    print(f"|{'-' * 40}|{'-' * 10}|{'-' * 11}|{'-' * 14}|{'-' * 10}|")
    for (label, _, _), seconds, peak in zip(cases, medians, peaks, strict=True):
        mem = f"{peak:8.0f}" if peak is not None else f"{'-':>8}"
        print(f"| {label:<38} | {seconds * 1e3:8.1f} | {b / seconds:9.1f} | {seconds / base:12.2f} | {mem} |")


if __name__ == "__main__":
    main()
