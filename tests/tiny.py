"""Tiny open_clip models for tests: built locally in milliseconds, never downloaded."""

from __future__ import annotations

import copy
from typing import Any

# ~1.7M parameters (the token embedding dominates: open_clip's SimpleTokenizer keeps vocab 49408).
TINY_MODEL_CFG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def tiny_cfg() -> dict[str, Any]:
    return copy.deepcopy(TINY_MODEL_CFG)


def make_tiny_model(seed: int = 0):
    """An open_clip ``CLIP`` with random (seeded) weights and the tiny config."""
    import open_clip
    import torch

    torch.manual_seed(seed)
    cfg = tiny_cfg()
    model = open_clip.CLIP(embed_dim=cfg["embed_dim"], vision_cfg=cfg["vision_cfg"], text_cfg=cfg["text_cfg"])
    model.eval()
    return model
