"""The toy world: a procedurally drawn image–caption world and tiny CLIPs trained on it.

It lets every part of cleanerclip be tested and demonstrated on a CPU without downloads: seeded
data splits written as ordinary data folders (``generate_world``), a registered tiny open_clip
architecture (``cleanerclip-toy``), from-scratch pretraining, clean or poisoned (``pretrain``), and
shipped models (``toy:clean``, ``toy:badnet``). Importing this package is cheap: no torch.
"""

from __future__ import annotations

from cleanerclip_tool.toyworld.captions import SHAPES, TARGET_LABEL, caption_for, zero_shot_templates
from cleanerclip_tool.toyworld.model_config import TOY_MODEL_NAME, register_toy_config, toy_model_cfg
from cleanerclip_tool.toyworld.registry import is_toy_model, list_toy_models, resolve_toy_model
from cleanerclip_tool.toyworld.world import (
    WorldPaths,
    cached_world,
    default_world,
    generate_world,
    sample_pairs,
)

__all__ = [
    "SHAPES",
    "TARGET_LABEL",
    "TOY_MODEL_NAME",
    "WorldPaths",
    "cached_world",
    "caption_for",
    "default_world",
    "generate_world",
    "is_toy_model",
    "list_toy_models",
    "register_toy_config",
    "resolve_toy_model",
    "sample_pairs",
    "toy_model_cfg",
    "zero_shot_templates",
]
