"""Build the toy world's trigger artefacts: the SSBA encoder and the BadCLIP patch.

Usage::

    python scripts/build_toy_artefacts.py                 # both
    python scripts/build_toy_artefacts.py --only badclip  # after retraining toy:clean
    python scripts/build_toy_artefacts.py --only ssba --threads 2

``cleanerclip scan toy:MODEL --attack all`` uses these files for the two attacks that need an
artefact (``toyworld.triggers.toy_params``). Both are built by the library's own code, the same calls as
``cleanerclip trigger train-ssba`` and ``cleanerclip trigger optimize-badclip``:

* ``ssba_encoder.safetensors``: ``attacks.stegastamp.train_stegastamp`` on the toy world's train
  split (``toyworld.world.default_world().train``) at 32x32; the residual is bounded by ``epsilon``;
  the bit accuracy of the decoder on held-out codes is recorded;
* ``badclip_patch.png``: ``attacks.badclip_optimize.optimize_badclip_patch`` against ``toy:clean``
  for the target "heart", ``TOY_PATCH_PX`` pixels square.

Seeded and re-runnable: each run overwrites the file it builds and updates its entry in
``artefacts/build.json`` (settings, result figures, SHA-256, size, versions, timings), keeping the
other entry. A few minutes on one CPU core.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from cleanerclip_tool.toyworld.triggers import (  # noqa: E402
    ARTEFACTS_DIR,
    BADCLIP_PATCH_FILE,
    BUILD_RECORD,
    SSBA_ENCODER_FILE,
    TOY_PATCH_PX,
)

# The exact settings each artefact is built with (recorded in build.json).
SSBA_SETTINGS: dict[str, Any] = {
    "n_bits": 32,
    "epsilon": 8 / 255,  # SSBA's invisibility budget, the library default
    "channels": 16,
    # the secret's map side: the default 8 upsampled 4x to 32 px is so smooth that the decoder's
    # 5x5 high-pass sees almost nothing of it and training sits at 50% bit accuracy; 16 (2x) learns
    "grid": 16,
    "image_size": 32,
    "steps": 600,
    "batch_size": 32,
    "max_images": 2000,
    "seed": 0,
}
BADCLIP_SETTINGS: dict[str, Any] = {
    "model": "toy:clean",
    "target": "heart",
    "size_px": TOY_PATCH_PX,
    "steps": 300,
    "batch_size": 64,
    # measured on toy:clean (300 steps): lr 0.01 / pull 1 moved cos(patched, heart anchor) 0.355 ->
    # 0.385, lr 0.05 / pull 1 not at all (0.346), lr 0.05 / pull 10 to 0.468: a 5 px patch on a weak
    # 32 px model needs the pull toward target images to dominate BadCLIP's contrastive term
    "lr": 0.05,
    "pull_weight": 10.0,
    "max_images": 2000,
    # An L-inf bound on the change from the random start (32/255). Unbounded, the patch optimised
    # against toy:clean became an adversarial patch for it: the *clean* model sent 38.4% of patched
    # images to the target (measured 2026-11-30, scan of toy:clean, trigger seed 987654), a floor
    # no defence could go below. Measured floors: 16/255 4.0%, 32/255 6.2%, 64/255 10.7%, the
    # random start 2.0%; 32/255 is the strongest bound under the testbed's 10% ceiling.
    "max_change": 32 / 255,
    "seed": 0,
}


def _sha256(path: Path) -> str:
    """SHA-256 of a built file, made world-readable first (safetensors writes 0600; a wheel keeps it)."""
    from cleanerclip_tool.attacks.base import file_sha256

    path.chmod(0o644)
    return file_sha256(path)


def _progress(event: Any) -> None:
    """Print training progress lines (the library never prints; this script is its front end)."""
    name = type(event).__name__
    if name == "TaskProgress" and event.metrics:
        print(f"  {event.task} {event.completed}/{event.total} {event.metrics}", flush=True)
    elif name == "Info":
        print(f"  {event.message}", flush=True)


def build_ssba(out_dir: Path) -> dict[str, Any]:
    import numpy as np

    from cleanerclip_tool.attacks.stegastamp import StegaConfig, train_stegastamp
    from cleanerclip_tool.data.captions import load_caption_table
    from cleanerclip_tool.data.images import open_rgb
    from cleanerclip_tool.toyworld.world import default_world

    s = SSBA_SETTINGS
    train = default_world().train
    rows = load_caption_table(train).rows
    keep = np.sort(np.random.default_rng(s["seed"]).choice(len(rows), min(s["max_images"], len(rows)), replace=False))
    images = [open_rgb(rows[i].image) for i in keep]
    out = out_dir / SSBA_ENCODER_FILE
    result = train_stegastamp(
        images,
        out,
        config=StegaConfig(n_bits=s["n_bits"], channels=s["channels"], grid=s["grid"], epsilon=s["epsilon"]),
        image_size=s["image_size"],
        steps=s["steps"],
        batch_size=s["batch_size"],
        seed=s["seed"],
        on_event=_progress,
    )
    return {
        "file": SSBA_ENCODER_FILE,
        "settings": s,
        "data": "toyworld.world.default_world().train",
        "images": len(images),
        "bit_accuracy": round(result.bit_accuracy, 4),
        "mean_abs_residual_255": round(result.mean_abs_residual, 3),
        "max_abs_residual_bound_255": round(s["epsilon"] * 255, 3),
        "psnr_db": round(result.psnr, 2),
        "seconds": round(result.seconds, 1),
        "bytes": out.stat().st_size,
        "sha256": _sha256(out),
    }


def build_badclip(out_dir: Path) -> dict[str, Any]:
    from cleanerclip_tool.attacks.badclip_optimize import optimize_badclip_patch
    from cleanerclip_tool.data.captions import load_caption_table
    from cleanerclip_tool.models.load import load_model
    from cleanerclip_tool.toyworld.world import default_world

    s = BADCLIP_SETTINGS
    loaded = load_model(s["model"])
    table = load_caption_table(default_world().train)
    out = out_dir / BADCLIP_PATCH_FILE
    result = optimize_badclip_patch(
        loaded,
        table,
        s["target"],
        out,
        size_px=s["size_px"],
        steps=s["steps"],
        batch_size=s["batch_size"],
        lr=s["lr"],
        pull_weight=s["pull_weight"],
        max_images=s["max_images"],
        max_change=s["max_change"],
        seed=s["seed"],
        on_event=_progress,
    )
    return {
        "file": BADCLIP_PATCH_FILE,
        "settings": s,
        "model_sha256": loaded.card.sha256,
        "data": "toyworld.world.default_world().train",
        "side": result.side,
        "cos_to_target_before": round(result.clean_similarity, 4),
        "cos_to_target_after": round(result.target_similarity, 4),
        "final_loss": round(result.final_loss, 4),
        "target_rows": result.target_rows,
        "source_rows": result.source_rows,
        "seconds": round(result.seconds, 1),
        "bytes": out.stat().st_size,
        "sha256": _sha256(out),
    }


BUILDERS = {"ssba": build_ssba, "badclip": build_badclip}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=sorted(BUILDERS), help="build one artefact, keep the other")
    parser.add_argument("--out-dir", type=Path, default=ARTEFACTS_DIR, help="default: the package's artefacts/")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1 = reproducible, machine-friendly)")
    args = parser.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    record_path = args.out_dir / BUILD_RECORD
    record: dict[str, Any] = json.loads(record_path.read_text()) if record_path.is_file() else {}
    record.setdefault("artefacts", {})
    for name in [args.only] if args.only else list(BUILDERS):
        print(f"building {name} ...", flush=True)
        started = time.perf_counter()
        entry = BUILDERS[name](args.out_dir)
        entry["built"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        entry["wall_seconds"] = round(time.perf_counter() - started, 1)
        record["artefacts"][name] = entry
        print(json.dumps(entry, indent=2), flush=True)
    record["command"] = "python scripts/build_toy_artefacts.py [--only ssba|badclip]"
    record["torch_threads"] = args.threads
    record["versions"] = {"python": platform.python_version(), "torch": torch.__version__}
    record_path.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {record_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
