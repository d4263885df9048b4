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


# OpenAI's layout: heads = width / 64 (open_clip's OpenAI builder assumes it), QuickGELU.
OPENAI_TINY_CFG = {
    "embed_dim": 32,
    "quick_gelu": True,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 1, "layers": 1},
}


def write_openai_torchscript(path: Path, seed: int = 0) -> torch.nn.Module:
    """A TorchScript archive laid out like OpenAI's released ``.pt`` files, only tiny.

    OpenAI's archives are scripted CLIP modules whose state dict holds the parameters plus three
    scalar tensors (``input_resolution``, ``context_length``, ``vocab_size``) and no attention
    mask (OpenAI keeps it as a plain attribute). ``open_clip.load_openai_model`` reads the result
    (tested), so it stands in for the real multi-hundred-megabyte files.
    """
    import warnings

    import open_clip

    torch.manual_seed(seed)
    cfg = OPENAI_TINY_CFG
    model = open_clip.CLIP(cfg["embed_dim"], cfg["vision_cfg"], cfg["text_cfg"], quick_gelu=True).eval()
    scripted_source = open_clip.CLIP(cfg["embed_dim"], cfg["vision_cfg"], cfg["text_cfg"], quick_gelu=True).eval()
    scripted_source.load_state_dict(model.state_dict())
    for name, value in (("input_resolution", 32), ("context_length", 16), ("vocab_size", 49408)):
        if hasattr(scripted_source, name):
            delattr(scripted_source, name)
        scripted_source.register_buffer(name, torch.tensor(value))
    mask = scripted_source.attn_mask
    del scripted_source.attn_mask  # a buffer in open_clip, a plain attribute in OpenAI's archives
    scripted_source.attn_mask = mask
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(scripted_source).save(str(path))
    return model
