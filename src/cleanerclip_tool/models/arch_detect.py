"""Find the open_clip architecture whose parameters match a bare state dict exactly.

A state dict carries names and shapes but no config. open_clip registers 100+ configs, and
building each one (even on the ``meta`` device) costs a fraction of a second, so we first compare
the dimensions a config names (embed dim, text width/layers/vocab/context, vision width/layers/
patch) with the ones the state dict reveals, and only build the few survivors on ``meta`` (no
memory allocated) to compare every parameter name and shape. Nothing is computed at import.
"""

from __future__ import annotations

import re
from typing import Any

# Configs whose towers come from timm or Hugging Face would need those libraries or downloads to
# build; their checkpoints use different parameter names anyway.
_EXTERNAL_TOWER_KEYS = ("timm_model_name", "hf_model_name")
# Every open_clip ``CLIP`` with its own text transformer has these; a state dict without them is
# not one, and no build can match it.
_CORE_KEYS = ("token_embedding.weight", "positional_embedding", "text_projection", "ln_final.weight")
_TEXT_BLOCK = re.compile(r"^transformer\.resblocks\.(\d+)\.")
_VISION_BLOCK = re.compile(r"^visual\.transformer\.resblocks\.(\d+)\.")
_RESNET_BLOCK = re.compile(r"^visual\.layer([1-4])\.(\d+)\.")


def shape_signature(state_dict: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state_dict.items()}


def _dataclass_defaults(cls: type) -> dict[str, Any]:
    import dataclasses

    return {f.name: f.default for f in dataclasses.fields(cls) if f.default is not dataclasses.MISSING}


def _observed_dims(sig: dict[str, tuple[int, ...]]) -> dict[str, Any] | None:
    """The dimensions a config must name to produce this state dict; None if it is no open_clip CLIP."""
    if any(k not in sig for k in _CORE_KEYS):
        return None
    tok, pos, proj = sig["token_embedding.weight"], sig["positional_embedding"], sig["text_projection"]
    if len(tok) != 2 or len(pos) != 2 or len(proj) != 2:
        return None
    dims: dict[str, Any] = {
        "embed_dim": proj[1],
        "text": {
            "vocab_size": tok[0],
            "width": tok[1],
            "context_length": pos[0],
            "layers": len({m.group(1) for k in sig if (m := _TEXT_BLOCK.match(k))}),
        },
    }
    if any(k.startswith("visual.attnpool.") for k in sig):
        blocks = {m.groups() for k in sig if (m := _RESNET_BLOCK.match(k))}
        dims["vision"] = {"layers": [sum(1 for stage, _ in blocks if stage == str(i)) for i in (1, 2, 3, 4)]}
    else:
        conv = sig.get("visual.conv1.weight")
        if conv is None or len(conv) != 4:
            return None
        dims["vision"] = {
            "width": conv[0],
            "patch_size": conv[-1],
            "layers": len({m.group(1) for k in sig if (m := _VISION_BLOCK.match(k))}),
        }
    return dims


def _cheap_match(cfg: dict[str, Any], dims: dict[str, Any], defaults: tuple[dict, dict]) -> bool:
    vision = {**defaults[0], **cfg.get("vision_cfg", {})}
    text = {**defaults[1], **cfg.get("text_cfg", {})}
    if any(key in cfg.get("vision_cfg", {}) or key in cfg.get("text_cfg", {}) for key in _EXTERNAL_TOWER_KEYS):
        return False
    if "multimodal_cfg" in cfg or cfg.get("embed_dim") != dims["embed_dim"]:
        return False
    if any(text.get(k) != v for k, v in dims["text"].items()):
        return False
    want = dims["vision"]
    is_resnet = isinstance(vision.get("layers"), (list, tuple))
    if is_resnet != ("patch_size" not in want):
        return False
    if is_resnet:
        return list(vision["layers"]) == want["layers"]
    return (
        vision.get("width") == want["width"]
        and vision.get("layers") == want["layers"]
        and (vision.get("patch_size") == want["patch_size"])
    )


def openai_model_cfg(state_dict: dict[str, Any]) -> dict[str, Any]:
    """An open_clip ``model_cfg`` for an OpenAI-layout state dict of any size.

    It names the dimensions open_clip's ``build_model_from_openai_state_dict`` reads from the
    tensors (heads = width / 64, QuickGELU), so that a folder saved from such a model rebuilds
    the same shapes with plain open_clip.
    """
    sig = shape_signature(state_dict)
    dims = _observed_dims(sig)
    if dims is None:
        raise ValueError("not an OpenAI-layout CLIP state dict")
    text = {**dims["text"], "heads": max(1, dims["text"]["width"] // 64)}
    vision = dict(dims["vision"])
    if "patch_size" in vision:
        grid = round((sig["visual.positional_embedding"][0] - 1) ** 0.5)
        vision["image_size"] = vision["patch_size"] * grid
    else:
        vision["width"] = sig["visual.layer1.0.conv1.weight"][0]
        vision["image_size"] = 32 * round((sig["visual.attnpool.positional_embedding"][0] - 1) ** 0.5)
    return {"embed_dim": dims["embed_dim"], "quick_gelu": True, "vision_cfg": vision, "text_cfg": text}


def model_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Parameter and buffer shapes of an open_clip architecture, built on the meta device."""
    import open_clip
    import torch

    from cleanerclip_tool.models._quiet import quiet_open_clip

    with torch.device("meta"), quiet_open_clip():
        model = open_clip.create_model(name, pretrained=None, load_weights=False, device="meta")
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def candidate_architectures(state_dict: dict[str, Any]) -> list[str]:
    """All registered architectures whose parameter names and shapes equal the state dict's."""
    import open_clip
    from open_clip.model import CLIPTextCfg, CLIPVisionCfg

    sig = shape_signature(state_dict)
    dims = _observed_dims(sig)
    if dims is None:
        return []
    defaults = (_dataclass_defaults(CLIPVisionCfg), _dataclass_defaults(CLIPTextCfg))
    matches = []
    for name in open_clip.list_models():
        cfg = open_clip.get_model_config(name)
        if not cfg or not _cheap_match(cfg, dims, defaults):
            continue
        try:
            shapes = model_shapes(name)
        except Exception:  # a config this open_clip install cannot build is simply not a candidate
            continue
        if shapes == sig:
            matches.append(name)
    return matches


def pick_architecture(candidates: list[str]) -> str | None:
    """One name when the match is unambiguous, else None.

    ``X`` and ``X-quickgelu`` have identical shapes. When ``X`` is an OpenAI architecture the
    weights almost surely descend from OpenAI's (CleanCLIP, BadCLIP and most forum checkpoints
    fine-tune them), and OpenAI's models use QuickGELU, so the ``-quickgelu`` variant is the
    right one. For other architectures both activations are in use (DFN and MetaCLIP weights of
    ViT-H-14 use QuickGELU, LAION's GELU) and the wrong one would give subtly wrong embeddings
    without any error, so we do not guess: the caller asks for ``--arch``.
    """
    import open_clip

    if len(candidates) == 1:
        return candidates[0]
    openai_bases = set(open_clip.list_openai_models())
    bases = {c.removesuffix("-quickgelu") for c in candidates}
    if len(bases) == 1:
        (base,) = bases
        quick = f"{base}-quickgelu"
        if base in openai_bases and quick in candidates:
            return quick
    return None
