"""Step time of FT, CleanCLIP and CleanerCLIP on the same model and batch, in one run.

The CFA term must stay light: at the paper's K vs data-set ratio (K=1000 of ~100k pairs, so ~1% of
a batch is in S) a CleanerCLIP step should cost at most 1.10x a CleanCLIP step. We also show the
worst case, a batch entirely in S (2 extra text passes per row).

    python benchmarks/bench_step.py [--arch tiny|ViT-B-32|RN50] [--batch-size 64] [--repeats 10]
                                    [--device cuda] [--precision fp32|bf16]

With ``--against-cleanclip DIR`` (a checkout of github.com/nishadsinghi/CleanCLIP) it instead
times our CleanCLIP step against CleanCLIP's own ``train`` step in one process, on the CPU in
fp32 (its code runs there in fp32): same weights, same batch, losses and parameter counts checked
equal first, steps alternated. Default: RN50 at batch 16 and 32, 2 threads:

    python benchmarks/bench_step.py --against-cleanclip /path/to/CleanCLIP [--arch RN50|rn-tiny]
        [--batch-size 16 32] [--repeats 5] [--threads 2] [--order ours-first|theirs-first]
        [--sides theirs,ours,ours-noclip,...] [--profile]
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
from cleanerclip_tool.engine.state import frozen_copy
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


def frozen_for(model, loss_fn: PurifyLoss):
    """PAR's frozen copy of the starting model (None for the methods that keep none)."""
    return frozen_copy(model) if loss_fn.needs("frozen") else None


def one_step(
    model, loss_fn: PurifyLoss, opt, batch, cfa, device, autocast=contextlib.nullcontext, frozen=None
) -> float:
    """Seconds for one forward + backward + optimizer step."""
    if device.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    terms = forward_loss(model, loss_fn, batch, cfa, device, autocast, DistInfo(), frozen=frozen)
    terms["total"].backward()
    opt.step()
    opt.zero_grad(set_to_none=True)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t


def time_steps(model, cases, batch, device, repeats: int, autocast=contextlib.nullcontext) -> list[float]:
    """Median step time per case. The cases take turns step by step (round-robin), so a slow spell
    on a shared machine hits them all alike instead of skewing the ratio between them."""
    losses = [loss_for(method) for _, method, _ in cases]
    runs = [
        (loss_fn, torch.optim.AdamW(model.parameters(), lr=1e-5), cfa, frozen_for(model, loss_fn))
        for loss_fn, (_, _, cfa) in zip(losses, cases, strict=True)
    ]
    times: list[list[float]] = [[] for _ in cases]
    for i in range(repeats + 2):
        for k, (loss_fn, opt, cfa, frozen) in enumerate(runs):
            seconds = one_step(model, loss_fn, opt, batch, cfa, device, autocast, frozen)
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
        frozen = frozen_for(model, loss_fn)
        one_step(model, loss_fn, opt, batch, cfa, device, autocast, frozen)
        torch.cuda.reset_peak_memory_stats(device)
        one_step(model, loss_fn, opt, batch, cfa, device, autocast, frozen)
        peaks.append(torch.cuda.max_memory_allocated(device) / 2**20)
        del opt, frozen
        torch.cuda.empty_cache()
    return peaks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arch", default=None, help="tiny (default), ViT-B-32, RN50; against CleanCLIP: RN50, rn-tiny")
    parser.add_argument("--batch-size", type=int, nargs="+", default=None, help="default 64; against CleanCLIP 16 32")
    parser.add_argument("--repeats", type=int, default=None, help="default 10; against CleanCLIP 5")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--precision", choices=("fp32", "bf16"), default="fp32")
    group = parser.add_argument_group("against CleanCLIP's code")
    group.add_argument("--against-cleanclip", metavar="DIR", help="a CleanCLIP checkout: time its train step vs ours")
    group.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    group.add_argument("--order", choices=("ours-first", "theirs-first"), default="ours-first", help="build order")
    group.add_argument(
        "--sides", default="theirs,ours", help="comma list, the first is the reference; see _cleanclip_step.SIDES"
    )
    group.add_argument(
        "--profile", action="store_true", help="after timing, profile one step per side (self CPU per op)"
    )
    args = parser.parse_args()
    if args.against_cleanclip:
        against_cleanclip(args)
        return
    args.arch = args.arch or "tiny"
    for b in args.batch_size or [64]:
        own_methods(args, b, args.repeats or 10)


def against_cleanclip(args: argparse.Namespace) -> None:
    """Our CleanCLIP step vs CleanCLIP's ``train`` step: the ratio table (see the module doc)."""
    import os

    import _cleanclip_step as cc_step

    torch.set_num_threads(args.threads)
    cc = cc_step.import_cleanclip(args.against_cleanclip)
    names = [n.strip() for n in args.sides.split(",") if n.strip()]
    unknown = sorted(set(names) - set(cc_step.SIDES))
    if unknown or len(names) < 2 or not names[0].startswith("theirs"):
        raise SystemExit(f"--sides: a comma list starting with theirs, from {', '.join(cc_step.SIDES)}")
    arch, repeats = args.arch or "RN50", args.repeats or 5
    config = PurifyConfig(method="cleanclip")
    print("\n".join(machine_lines()))
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"against CleanCLIP {cc.root}  model {arch} random init  cpu fp32  threads {torch.get_num_threads()}")
    print(f"build order {args.order}  median of {repeats} steps after 2 warm-up rounds, sides alternated (order")
    ours = f"ours: grad_clip {config.grad_clip}, AdamW wd {config.weight_decay}"
    print(f"reversed every round)  {ours}  load avg at start {load}")
    tunables = {
        k: v for k, v in os.environ.items() if k.startswith(("MALLOC_", "GLIBC_TUNABLES", "OMP_", "LD_PRELOAD"))
    }
    if tunables:
        print(f"environment: {' '.join(f'{k}={v}' for k, v in sorted(tunables.items()))}")
    for b in args.batch_size or [16, 32]:
        sides, _ = cc_step.build_sides(names, cc, arch, b, args.order, config)
        checked = cc_step.check_equal(sides)
        cc_step.run_round_robin(sides, repeats)
        rows = cc_step.summary(sides)
        print(f"\nbatch {b} ({2 * b} images + {2 * b} captions per step)  load avg after {os.getloadavg()[0]:.2f}")
        head = [f"{'side':<14}", f"{'loss before':>12}", f"{'params':>11}", f"{'median s':>8}", f"{'min s':>6}"]
        head += [f"{'max s':>6}", f"{'vs ' + names[0]:>10}", f"{'cpu s':>6}", f"{'faults/step':>11}"]
        print("| " + " | ".join(head) + " |")
        print(f"|{'-' * 16}|{'-' * 14}|{'-' * 13}|{'-' * 10}|{'-' * 8}|{'-' * 8}|{'-' * 12}|{'-' * 8}|{'-' * 13}|")
        for (name, median, ratio, faults, cpu), (_, loss, _, elements), side in zip(rows, checked, sides, strict=True):
            lo, hi = min(side.seconds), max(side.seconds)
            cells = [f"{name:<14}", f"{loss:12.8f}", f"{elements:11,d}", f"{median:8.2f}", f"{lo:6.2f}"]
            cells += [f"{hi:6.2f}", f"{ratio:10.3f}", f"{cpu:6.2f}", f"{faults:11,.0f}"]
            print("| " + " | ".join(cells) + " |")
        if args.profile:
            print("\n" + cc_step.profile_sides(sides))
        del sides


def state_mib(model: torch.nn.Module, loss_fn: PurifyLoss) -> float:
    """Weights + gradients + AdamW's exp_avg and exp_avg_sq (4 copies of the trainable parameters) and the
    buffers, plus one more copy of weights and buffers when the loss keeps a frozen starting model."""
    params = sum(p.numel() * p.element_size() for p in model.parameters())
    buffers = sum(b.numel() * b.element_size() for b in model.buffers())
    total = 4 * params + buffers + ((params + buffers) if loss_fn.needs("frozen") else 0)
    return total / 2**20


def own_methods(args: argparse.Namespace, b: int, repeats: int) -> None:
    device = torch.device(args.device)
    model, size, ctx = build(args.arch, device)
    paper_in_s = max(1, round(b * 1000 / 100_000))
    batch, cfa_paper = make_batch(b, size, ctx, paper_in_s, device)
    _, cfa_full = make_batch(b, size, ctx, b, device)
    cases = (
        ("ft", "ft", {}),
        ("cleanclip", "cleanclip", {}),
        (f"cleanerclip (|S|={paper_in_s}, paper K/N)", "cleanerclip", cfa_paper),
        (f"cleanerclip (|S|={b}, whole batch)", "cleanerclip", cfa_full),
        ("par (frozen copy, AutoAugment views)", "par", {}),
    )
    autocast = autocast_for(args.precision, device)
    medians = time_steps(model, cases, batch, device, repeats, autocast)
    peaks = peak_memory(model, cases, batch, device, autocast)
    base = medians[1]
    print("\n".join(machine_lines()))
    print(f"model: {args.arch}  batch {b}  device {device}  {args.precision}  median of {repeats} steps\n")
    head = [f"{'method':<38}", f"{'step ms':>8}", f"{'samples/s':>9}", f"{'vs cleanclip':>12}", f"{'peak MiB':>8}"]
    print("| " + " | ".join([*head, f"{'state MiB':>9}"]) + " |")
    print(f"|{'-' * 40}|{'-' * 10}|{'-' * 11}|{'-' * 14}|{'-' * 10}|{'-' * 11}|")
    for (label, method, _), seconds, peak in zip(cases, medians, peaks, strict=True):
        mem = f"{peak:8.0f}" if peak is not None else f"{'-':>8}"
        state = state_mib(model, loss_for(method))
        cells = [f"{label:<38}", f"{seconds * 1e3:8.1f}", f"{b / seconds:9.1f}", f"{seconds / base:12.2f}", mem]
        print("| " + " | ".join([*cells, f"{state:9.1f}"]) + " |")
    print(
        "\npeak MiB: the CUDA allocator's peak of one steady step (CUDA only). state MiB: what a run holds besides "
        "activations, counted: weights, gradients and AdamW's two moments, plus PAR's frozen copy."
    )


if __name__ == "__main__":
    main()
