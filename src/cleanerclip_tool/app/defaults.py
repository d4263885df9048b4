"""What a model implies when the user leaves something out.

A toy-world model (shipped ``toy:NAME``, or pretrained, purified and saved from one) is evaluated on
the toy world's test split and triggered with the 32x32 settings it was poisoned with; any other
model needs the user's eval data and, for SSBA / BadCLIP, the user's artefact. The toy world is
imported inside these functions only: the application layer may depend on it, the generic layers
below never do, and an installation without it treats every model as a non-toy one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cleanerclip_tool.errors import BadInputError
from cleanerclip_tool.events import EventCallback, ignore_event


def is_toy(card: Any) -> bool:
    """True when ``card`` (a ``ModelCard``) belongs to the toy world; False without the toy world."""
    try:
        from cleanerclip_tool.toyworld.registry import is_toy_model
    except ImportError:
        return False
    return bool(is_toy_model(card))


def default_eval_data(card: Any, *, on_event: EventCallback = ignore_event) -> Path:
    """The eval ImageFolder used when none is given: the toy world's test split for a toy model.

    Generating the default world on first use can take a while, hence ``on_event`` (its progress).
    Any other model has no sensible default (ImageNet cannot be downloaded for the user).
    """
    if not is_toy(card):
        raise BadInputError("--eval-data is required (an ImageFolder: one sub-folder per class)", where="--eval-data")
    from cleanerclip_tool.toyworld import default_world

    return Path(default_world(on_event=on_event).test)


def trigger_defaults(card: Any, attack: str, *, toy: bool | None = None) -> tuple[dict[str, Any], int | None]:
    """(params, seed) to start ``attack`` from before the user's overrides.

    For a toy model: the toy world's 32x32 settings, or those recorded in the card's history when the
    model was poisoned with this attack (seed included). Otherwise ``({}, None)``: the attack's own
    defaults and the caller's seed. ``toy`` overrides the card's answer (the demo always scans with
    the toy settings, also on the stand-in models of its tests).
    """
    if not (is_toy(card) if toy is None else toy):
        return {}, None
    from cleanerclip_tool.toyworld.triggers import toy_trigger_defaults

    return toy_trigger_defaults(card, attack)


__all__ = ["default_eval_data", "is_toy", "trigger_defaults"]
