"""Shipped toy models: ``toy:NAME`` MODEL specs resolve to folders inside the package.

Each folder under ``toyworld/models/`` was written by ``models.save.save_model`` through
``scripts/build_toy_models.py`` and holds a ``build.json`` with the seed, the settings and the
metrics measured when it was built (``tests/test_toyworld_models.py`` rebuilds one and compares).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cleanerclip_tool.errors import ModelResolveError
from cleanerclip_tool.toyworld.captions import TARGET_LABEL
from cleanerclip_tool.toyworld.model_config import TOY_MODEL_NAME

MODELS_DIR = Path(__file__).with_name("models")
BUILD_RECORD = "build.json"

__all__ = ["MODELS_DIR", "TARGET_LABEL", "is_toy_model", "list_toy_models", "resolve_toy_model"]


def _is_model_folder(path: Path) -> bool:
    return path.is_dir() and (path / "open_clip_config.json").is_file()


def list_toy_models() -> list[str]:
    """Names of the shipped toy models (``clean``, ``badnet``, ...), sorted."""
    if not MODELS_DIR.is_dir():
        return []
    return sorted(p.name for p in MODELS_DIR.iterdir() if _is_model_folder(p))


def resolve_toy_model(name: str) -> Path:
    """The folder of shipped toy model ``name`` (``toy:`` prefix optional); the error lists known names."""
    key = name.strip()
    if key.startswith("toy:"):
        key = key[len("toy:") :]
    known = list_toy_models()
    if key not in known:
        hint = f"known: {', '.join('toy:' + n for n in known)}" if known else "no toy models are shipped"
        raise ModelResolveError(f"unknown toy model {key!r}", where=f"toy:{key}", hint=hint)
    return MODELS_DIR / key


def is_toy_model(card: Any) -> bool:
    """True for models of the toy world (shipped or pretrained by ``toyworld pretrain``).

    The scan then evaluates on the toy world's test split instead of ImageNet. A card counts as toy
    when it was loaded as ``toy:NAME`` or its architecture is ``cleanerclip-toy`` (a saved, purified
    or pretrained toy model keeps that architecture name).
    """
    kind = getattr(card, "kind", None)
    architecture = getattr(card, "architecture", None)
    if kind == "toy" or architecture == TOY_MODEL_NAME:
        return True
    model_cfg = getattr(card, "model_cfg", None) or {}
    # A folder saved with architecture "custom" but the toy config is still a toy model.
    from cleanerclip_tool.toyworld.model_config import toy_model_cfg

    return bool(model_cfg) and {k: model_cfg.get(k) for k in ("embed_dim", "vision_cfg", "text_cfg")} == {
        k: v for k, v in toy_model_cfg().items() if k in ("embed_dim", "vision_cfg", "text_cfg")
    }
