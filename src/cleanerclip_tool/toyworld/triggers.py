"""Trigger parameters for the toy world's 32x32 images, and the artefacts shipped for them.

The papers' defaults are set for 224x224 photographs; several make no sense on a 32x32 toy image
(CleanCLIP's 16/224 BadNet patch would be 2 pixels). The toy
world's pretraining poisons with ``toy_params(attack)`` and the scan of a toy model triggers with the
same dict, so the scan tests the very trigger the toy model was poisoned with. Each choice and its
reason is next to its value in ``TOY_TRIGGER_PARAMS``.

SSBA and BadCLIP need an artefact (an encoder, an optimised patch). For toy models they default to
small files shipped in ``toyworld/artefacts/``, built by ``scripts/build_toy_artefacts.py`` (which
records its settings and the files' SHA-256 in ``artefacts/build.json``). Which parameter takes an
attack's artefact is the attack's own business (``attacks.artefact_param``); only the files are the
toy world's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cleanerclip_tool.attacks import artefact_param
from cleanerclip_tool.attacks.provenance import recorded_trigger

#: Shipped toy artefacts (package data; built by scripts/build_toy_artefacts.py).
ARTEFACTS_DIR = Path(__file__).resolve().parent / "artefacts"
SSBA_ENCODER_FILE = "ssba_encoder.safetensors"
BADCLIP_PATCH_FILE = "badclip_patch.png"
BUILD_RECORD = "build.json"

#: Side of the pasted patches (BadNet, BadCLIP) on a 32x32 toy image.
TOY_PATCH_PX = 5

TOY_TRIGGER_PARAMS: dict[str, dict[str, Any]] = {
    # 16/224 of 32 px is 2 px, below what a 10-epoch tiny CLIP learns from random-location noise;
    # 5 px (~16% of the side, 2.4% of the area) stays a small patch and is learnt.
    "badnet": {"size_px": TOY_PATCH_PX},
    # The blend ratio is resolution-free: CleanCLIP's 0.2 already changes every pixel by ~±25 levels.
    "blended": {"alpha": 0.2},
    # CleanCLIP's 6 periods would be a 16/3 px period, sampled unevenly by 32 pixels (the stripe
    # only repeats every 16 px); 4 periods give an exact 8 px period, a clean pattern for a small
    # network at 32 px. Amplitude and blend weight stay CleanCLIP's (they are resolution-free).
    "sig": {"frequency": 4.0},
    # WaNet's own CIFAR setting (k=4, s=0.5) moves pixels ~0.25 px: after 8-bit rounding on flat toy
    # shapes almost nothing changes. s=2 gives ~1 px of smooth warp, still imperceptible at 32 px.
    "wanet": {"k": 4, "s": 2.0},
    # The shipped encoder (trained on the toy train split at 32x32, |residual| <= 8/255).
    "ssba": {},
    # BadCLIP's 16/224 patch is 2 px at 32; 5 px like BadNet, centred as BadCLIP pastes it.
    "badclip": {"size_px": TOY_PATCH_PX},
}

#: The shipped file of each artefact-needing attack.
_ARTEFACT_FILE: dict[str, str] = {"ssba": SSBA_ENCODER_FILE, "badclip": BADCLIP_PATCH_FILE}


def artefact_path(attack: str) -> Path | None:
    """The shipped artefact for ``attack`` (``ssba``/``badclip``), or None when it has none."""
    name = _ARTEFACT_FILE.get(attack)
    return ARTEFACTS_DIR / name if name else None


def toy_params(name: str, *, artefacts: bool = True) -> dict[str, Any]:
    """Trigger parameters of attack ``name`` for 32x32 toy images (a fresh dict; {} for unknown names).

    With ``artefacts`` the shipped SSBA encoder / BadCLIP patch is included when the file exists, so
    ``get_trigger(name, **toy_params(name))`` builds the toy world's trigger.
    """
    key = name.strip().lower()
    params = dict(TOY_TRIGGER_PARAMS.get(key, {}))
    path = artefact_path(key)
    if artefacts and path is not None and path.is_file():
        params[str(artefact_param(key))] = str(path)
    return params


def toy_trigger_defaults(card: Any, attack: str) -> tuple[dict[str, Any], int | None]:
    """Trigger params and seed for scanning a toy model with ``attack``.

    The base is ``toy_params(attack)`` (the 32x32 settings the toy world poisons with, and
    the shipped SSBA encoder / BadCLIP patch). When the card's history says the model (or an
    ancestor: a saved model keeps its history) was poisoned with this attack, the newest such
    entry's params and seed win (``attacks.provenance.recorded_trigger``: ``trigger_seed`` before
    ``seed``), so the scan tests the very trigger the model learnt; a recorded artefact path that
    does not exist here keeps the shipped default.
    """
    params = toy_params(attack)
    record = recorded_trigger(getattr(card, "history", None), attack)
    if record is None:
        return params, None
    recorded = dict(record.params)
    key = artefact_param(attack)
    if key is not None and (recorded.get(key) is None or not Path(str(recorded[key])).is_file()):
        recorded.pop(key, None)  # no file recorded, or not on this machine: the shipped one
    params.update(recorded)  # a recorded None is the attack's own default, as the poisoner used it
    return params, record.seed


__all__ = ["ARTEFACTS_DIR", "TOY_TRIGGER_PARAMS", "artefact_path", "toy_params", "toy_trigger_defaults"]
