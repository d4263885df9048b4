"""Built-in triggers and the registry that builds them by name.

The registry maps an attack name to its module and class; modules are imported on first use so
``import cleanerclip_tool.attacks`` stays cheap and torch is only loaded by triggers that need it
(WaNet, SSBA).
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import Any

from cleanerclip_tool.attacks.base import Trigger, build_params
from cleanerclip_tool.errors import BadInputError

# name -> "module:Class"; the six families of the paper's Table 1, then the user's own image.
_REGISTRY: dict[str, str] = {
    "badnet": "cleanerclip_tool.attacks.badnet:BadNetTrigger",
    "blended": "cleanerclip_tool.attacks.blended:BlendedTrigger",
    "sig": "cleanerclip_tool.attacks.sig:SigTrigger",
    "wanet": "cleanerclip_tool.attacks.wanet:WaNetTrigger",
    "ssba": "cleanerclip_tool.attacks.ssba:SSBATrigger",
    "badclip": "cleanerclip_tool.attacks.badclip:BadCLIPTrigger",
    "custom": "cleanerclip_tool.attacks.custom:CustomTrigger",
}

#: The attacks ``--attack all`` runs: the paper's six (``custom`` needs the user's image).
PAPER_ATTACKS: tuple[str, ...] = ("badnet", "blended", "sig", "wanet", "ssba", "badclip")

#: The parameter that takes the artefact of the paper attacks that cannot run without one (SSBA's
#: trained encoder, BadCLIP's optimised patch). Whoever ships artefacts (the toy world) or asks for
#: them (a scan of a non-toy model) reads the parameter name here rather than hard-coding it.
_ARTEFACT_PARAMS: dict[str, str] = {"ssba": "encoder", "badclip": "patch"}


def list_triggers() -> list[str]:
    """Names ``get_trigger`` accepts, in the paper's order."""
    return list(_REGISTRY)


def trigger_class(name: str) -> type[Trigger]:
    """The class registered under ``name``; ``BadInputError`` listing the known names otherwise."""
    key = name.strip().lower()
    if key not in _REGISTRY:
        raise BadInputError(f"unknown attack {name!r}", where="--attack", hint=f"known: {', '.join(list_triggers())}")
    module_name, class_name = _REGISTRY[key].split(":")
    return getattr(importlib.import_module(module_name), class_name)


def artefact_param(attack: str) -> str | None:
    """The trigger parameter that takes ``attack``'s artefact file (``encoder``, ``patch``), else None."""
    return _ARTEFACT_PARAMS.get(attack)


def get_trigger(name: str, *, seed: int = 0, **params: Any) -> Trigger:
    """Build a trigger by name; keyword ``params`` override its dataclass defaults (None = default)."""
    cls = trigger_class(name)
    return cls(build_params(cls.Params, params, attack=cls.name), seed=seed)


__all__ = ["PAPER_ATTACKS", "Trigger", "artefact_param", "get_trigger", "list_triggers", "trigger_class"]
