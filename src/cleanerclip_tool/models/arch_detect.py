"""Find the open_clip architecture whose parameters match a bare state dict exactly.

A state dict carries names and shapes but no config. We compare it with every registered
open_clip config, first on cheap signature values (embed dim, context length, tower type), then
by building the few survivors on the ``meta`` device, which allocates no memory, and comparing
every name and shape.
"""

from __future__ import annotations

from typing import Any

# Configs whose towers come from timm or Hugging Face would need those libraries or downloads to
# build; their checkpoints use different parameter names anyway.
_EXTERNAL_TOWER_KEYS = ("timm_model_name", "hf_model_name")


def shape_signature(state_dict: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in state_dict.items()}


def _cheap_match(cfg: dict[str, Any], sig: dict[str, tuple[int, ...]]) -> bool:
    vision, text = cfg.get("vision_cfg", {}), cfg.get("text_cfg", {})
    if any(key in vision or key in text for key in _EXTERNAL_TOWER_KEYS):
        return False
    proj = sig.get("text_projection")
    if proj is not None and len(proj) == 2 and proj[1] != cfg.get("embed_dim"):
        return False
    pos = sig.get("positional_embedding")
    if pos is not None and pos[0] != text.get("context_length", 77):
        return False
    is_resnet = isinstance(vision.get("layers"), (list, tuple))
    has_attnpool = any(k.startswith("visual.attnpool.") for k in sig)
    return is_resnet == has_attnpool


def model_shapes(name: str) -> dict[str, tuple[int, ...]]:
    """Parameter and buffer shapes of an open_clip architecture, built on the meta device."""
    import open_clip
    import torch

    from cleanerclip_tool.models._quiet import quiet_open_clip

    with torch.device("meta"), quiet_open_clip():
        model = open_clip.create_model(name, pretrained=None, load_weights=False, device="meta")
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def candidate_architectures(state_dict: dict[str, Any]) -> list[str]:
    """All registered architectures whose names and shapes equal the state dict's."""
    import open_clip

    sig = shape_signature(state_dict)
    matches = []
    for name in open_clip.list_models():
        cfg = open_clip.get_model_config(name)
        if not cfg or not _cheap_match(cfg, sig):
            continue
        try:
            shapes = model_shapes(name)
        except Exception:
            continue
        if shapes == sig:
            matches.append(name)
    return matches


def pick_architecture(candidates: list[str]) -> str | None:
    """One name when the match is unambiguous, else None.

    ``X`` and ``X-quickgelu`` have identical shapes. When ``X`` is an OpenAI architecture the
    weights almost surely descend from OpenAI's (CleanCLIP, BadCLIP and most forum checkpoints
    fine-tune them), and OpenAI's models use QuickGELU, so the ``-quickgelu`` variant is the
    right one; ``--arch`` overrides the choice.
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
        if base in candidates:
            return base
    return None
