"""Writers for every model format cleanerclip reads, built from the tiny test model."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from tiny import make_tiny_model, tiny_cfg

TINY_ARCH = "cleanerclip-tiny-test"


def register_tiny_arch(tmp: Path) -> str:
    """Register the tiny config with open_clip under ``TINY_ARCH`` (what a user's custom config would be)."""
    import open_clip

    cfg_dir = tmp / "configs"
    cfg_dir.mkdir(exist_ok=True)
    path = cfg_dir / f"{TINY_ARCH}.json"
    path.write_text(json.dumps(tiny_cfg()))
    open_clip.add_model_config(path)
    return TINY_ARCH


def write_formats(tmp: Path, seed: int = 0) -> tuple[torch.nn.Module, dict[str, Path]]:
    """The same weights as CleanCLIP checkpoint, plain .pt/.bin, safetensors and open_clip folder."""
    from safetensors.torch import save_file

    model = make_tiny_model(seed)
    sd = model.state_dict()
    out = {
        "cleanclip": tmp / "cleanclip_epoch_3.pt",
        "plain_pt": tmp / "plain.pt",
        "plain_bin": tmp / "plain.bin",
        "safetensors": tmp / "weights.safetensors",
        "openclip_folder": tmp / "openclip_folder",
    }
    torch.save({"epoch": 3, "name": "run", "state_dict": {f"module.{k}": v for k, v in sd.items()}}, out["cleanclip"])
    torch.save(sd, out["plain_pt"])
    torch.save(sd, out["plain_bin"], _use_new_zipfile_serialization=False)  # a raw (non-zip) pickle
    save_file({k: v.contiguous() for k, v in sd.items()}, str(out["safetensors"]))
    folder = out["openclip_folder"]
    folder.mkdir()
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": tiny_cfg(), "preprocess_cfg": {}}))
    torch.save(sd, folder / "open_clip_pytorch_model.bin")
    return model, out
