"""Scan throughput vs the bare forward pass of the same model (goal: ratio >= 0.9).

The scan decodes each image from disk, applies the trigger at native size, runs the model's own
preprocess, and classifies; the bare forward pass only runs ``encode_image`` on tensors already in
memory, at the same batch size. The ratio says how much of the device's throughput the scan keeps
(DataLoader workers overlap the image work with the model). Both are measured in this process.

    python benchmarks/bench_scan.py                     # tiny model (32x32) and ViT-B-32 (224x224), CPU
    python benchmarks/bench_scan.py --models tiny --images 1024 --device cuda

No weights are downloaded: the models are built with random weights (speed does not depend on them).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def build(name: str):
    """(LoadedModel, image size) for ``tiny`` (tests/tiny.py) or an open_clip architecture name."""
    import open_clip

    from cleanerclip_tool.models.load import build_loaded_model

    if name == "tiny":
        from tiny import make_tiny_model, tiny_cfg

        return build_loaded_model(tiny_cfg(), make_tiny_model(0), source="tiny", kind="file"), 32
    cfg = open_clip.get_model_config(name)
    torch.manual_seed(0)
    model = open_clip.create_model(name, pretrained=None).eval()
    return build_loaded_model(cfg, model, source=name, kind="pretrained", architecture=name), int(
        cfg["vision_cfg"]["image_size"]
    )


def make_folder(root: Path, n: int, size: int, classes: int = 10) -> Path:
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"class{i % classes}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return root


@torch.no_grad()
def bare_forward(loaded, n: int, size: int, batch_size: int, device: str) -> float:
    """images/s of encode_image on preprocessed tensors already on the device."""
    model = loaded.model.to(device).eval()
    images = torch.randn(batch_size, 3, size, size, device=device)
    amp = device.startswith("cuda")
    with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
        model.encode_image(images)  # warm-up
    if amp:
        torch.cuda.synchronize()
    started = time.perf_counter()
    done = 0
    while done < n:
        with torch.autocast("cuda", dtype=torch.float16, enabled=amp):
            model.encode_image(images)
        done += batch_size
    if amp:
        torch.cuda.synchronize()
    return done / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="tiny,ViT-B-32")
    parser.add_argument("--images", type=int, default=0, help="images per model (default: 512 tiny, 96 ViT)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    import open_clip

    from cleanerclip_tool.attacks import get_trigger
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.eval.scan import scan

    rows = []
    for name in [m.strip() for m in args.models.split(",") if m.strip()]:
        loaded, size = build(name)
        n = args.images or (512 if name == "tiny" else 96)
        with tempfile.TemporaryDirectory() as tmp:
            eval_set = load_eval_set(make_folder(Path(tmp), n, size))
            forward = bare_forward(loaded, n, size, args.batch_size, args.device)
            report = scan(
                loaded,
                eval_set,
                [get_trigger("badnet")],
                topk=(1, 5),
                batch_size=args.batch_size,
                device=args.device,
                workers=args.workers,
                templates="simple",
            )
        clean_ips = report.clean_images_per_second
        trig_ips = report.results[0].images_per_second
        rows.append((name, size, n, forward, clean_ips, trig_ips))

    print(
        f"machine: {platform.platform()} | {platform.processor() or platform.machine()} | "
        f"{os.cpu_count()} CPUs | torch threads {torch.get_num_threads()} | device {args.device}"
        + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else "")
    )
    print(
        f"versions: python {platform.python_version()} | torch {torch.__version__} | "
        f"open_clip {open_clip.__version__} | numpy {np.__version__}"
    )
    header = (
        f"{'model':<10} {'px':>4} {'images':>6} {'forward img/s':>14} {'scan clean img/s':>17} "
        f"{'scan badnet img/s':>18} {'ratio clean':>11} {'ratio badnet':>12}"
    )
    print(header)
    print("-" * len(header))
    for name, size, n, forward, clean_ips, trig_ips in rows:
        print(
            f"{name:<10} {size:>4} {n:>6} {forward:>14.1f} {clean_ips:>17.1f} {trig_ips:>18.1f} "
            f"{clean_ips / forward:>11.2f} {trig_ips / forward:>12.2f}"
        )
    print("ratio = scan images/s / bare forward images/s (goal >= 0.9)")


if __name__ == "__main__":
    main()
