"""Scan throughput vs the bare forward pass of the same model (goal: ratio >= 0.9).

The scan decodes each image from disk once, makes the clean view and one view per attack (trigger
at native size, then the model's own preprocess) and classifies all of them; the bare forward pass
only runs ``encode_image`` on tensors already in memory, at the same batch size (model inputs per
forward). Both are measured in this process, the forward before and after the scan (the faster of
the two counts), so they see the same machine load and a busy moment cannot flatter the ratio.

    scan images/s = model inputs (images x views) classified per wall-clock second of the scan
    ratio         = scan images/s / forward images/s

    python benchmarks/bench_scan.py                                  # toy:clean (32 px) and ViT-B-32 (224 px), CPU
    python benchmarks/bench_scan.py --models RN50 --images 512 --attacks badnet,sig
    python benchmarks/bench_scan.py --models ViT-B-32 --images 2048 --device cuda

No weights are downloaded: open_clip architectures are built with random weights (speed does not
depend on them); ``toy:NAME`` loads the shipped toy model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _machine import machine_lines


def build(name: str):
    """(LoadedModel, image size) for ``toy:NAME`` or an open_clip architecture name (random weights)."""
    import open_clip

    from cleanerclip_tool.models.load import build_loaded_model, load_model

    if name.startswith("toy:"):
        loaded = load_model(name)
        size = loaded.card.preprocess_cfg.get("size", loaded.card.model_cfg["vision_cfg"]["image_size"])
        return loaded, int(size[0] if isinstance(size, (list, tuple)) else size)
    cfg = open_clip.get_model_config(name)
    torch.manual_seed(0)
    model = open_clip.create_model(name, pretrained=None).eval()
    return build_loaded_model(cfg, model, source=name, kind="pretrained", architecture=name), int(
        cfg["vision_cfg"]["image_size"]
    )


def make_folder(root: Path, n: int, size: int, classes: int = 10) -> Path:
    """``n`` random-noise PNGs (the worst case for the decoder: nothing compresses) in ``classes`` folders."""
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"class{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


def bare_forward(loaded, n: int, size: int, batch_size: int, device: str) -> float:
    """images/s of encode_image on preprocessed tensors already on the device (after one warm-up batch)."""
    model = loaded.model.to(device).eval()
    images = torch.randn(batch_size, 3, size, size, device=device)
    amp = device.startswith("cuda")
    with torch.inference_mode(), torch.autocast("cuda", dtype=torch.float16, enabled=amp):
        model.encode_image(images)  # warm-up
        if amp:
            torch.cuda.synchronize()
        started = time.perf_counter()
        done = 0
        while done < n:
            model.encode_image(images)
            done += batch_size
        if amp:
            torch.cuda.synchronize()
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="toy:clean,ViT-B-32")
    parser.add_argument("--images", type=int, default=0, help="eval images per model (default: 512 toy, 128 else)")
    parser.add_argument("--attacks", default="badnet", help="comma-separated; each adds one view per image")
    parser.add_argument("--batch-size", type=int, default=64, help="model inputs per forward")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: the scan's auto)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also time the per-image PIL preprocess path (the scan's exact reference)",
    )
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    from cleanerclip_tool.attacks import get_trigger
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.eval.scan import scan
    from cleanerclip_tool.toyworld.triggers import toy_params

    attacks = [a.strip() for a in args.attacks.split(",") if a.strip()]
    for line in machine_lines():
        print(line)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(f"device {args.device} | load average {' '.join(f'{x:.1f}' for x in load) if load else '?'}")
    print(
        f"attacks: {', '.join(attacks)} (+ the clean view) | batch {args.batch_size} model inputs | "
        f"workers {'auto' if args.workers is None else args.workers} | cpu_count {os.cpu_count()}"
    )
    header = (
        f"{'model':<10} {'px':>4} {'images':>6} {'views':>5} {'forward img/s':>14} "
        f"{'scan img/s':>11} {'ratio':>6} {'model share of scan':>20}"
    )
    print(header)
    print("-" * len(header), flush=True)
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        loaded, size = build(name)
        toy = name.startswith("toy:")
        n = args.images or (512 if toy else 128)
        triggers = [get_trigger(a, **(toy_params(a) if toy else {})) for a in attacks]
        with tempfile.TemporaryDirectory() as tmp:
            eval_set = load_eval_set(make_folder(Path(tmp), n, size))
            forward = bare_forward(loaded, n * (1 + len(triggers)), size, args.batch_size, args.device)
            for fast in (True, False) if args.reference else (True,):
                report = scan(
                    loaded,
                    eval_set,
                    triggers,
                    topk=(1, 5),
                    batch_size=args.batch_size,
                    device=args.device,
                    workers=args.workers,
                    templates="simple",
                    fast_preprocess=fast,
                )
                # the forward again after the scan; the faster of the two is the reference (a machine
                # busy during one measurement must not flatter the ratio)
                forward = max(
                    forward, bare_forward(loaded, n * (1 + len(triggers)), size, args.batch_size, args.device)
                )
                scan_ips = report.scan_images_per_second
                share = report.forward_seconds / report.scan_seconds if report.scan_seconds else 0.0
                label = name if fast else f"{name} (per-image PIL path)"
                # each row is printed as soon as it is measured, so a long run keeps what it finished
                print(
                    f"{label:<10} {size:>4} {n:>6} {report.views:>5} {forward:>14.1f} {scan_ips:>11.1f} "
                    f"{scan_ips / forward:>6.2f} {share:>20.2f}",
                    flush=True,
                )
    print("scan img/s = (images x views) / scan wall seconds; ratio = scan / forward (goal >= 0.9)")


if __name__ == "__main__":
    main()
