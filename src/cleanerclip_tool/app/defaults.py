"""What a model implies when the user leaves something out.

A toy-world model (shipped ``toy:NAME``, or pretrained, purified and saved from one) is evaluated on
the toy world's test split and triggered with the 32x32 settings it was poisoned with; any other
model needs the user's eval data and, for SSBA / BadCLIP, the user's artefact, unless its card
records the poisoning (then the recorded trigger, artefact included, is the default). The toy world is
imported inside these functions only: the application layer may depend on it, the generic layers
below never do, and an installation without it treats every model as a non-toy one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cleanerclip_tool.attacks.provenance import RecordedTrigger, recorded_trigger
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


#: Where a scan's trigger settings came from (``TriggerDefaults.origin``, then ``app.triggers``).
ORIGIN_CARD = "model card"
ORIGIN_TOY = "toy world defaults"
ORIGIN_ATTACK = "attack defaults"
ORIGIN_FLAGS = "flags"


@dataclass(frozen=True)
class TriggerDefaults:
    """An attack's parameters and seed before the user's flags, and where they came from.

    ``origin`` is ``ORIGIN_CARD`` (the model's card, or an ancestor's, records a poisoning with this
    attack: ``record``), ``ORIGIN_TOY`` (a toy model without such a record) or ``ORIGIN_ATTACK`` (any
    other model: the attack's own defaults). ``seed`` None: the caller's.
    """

    params: dict[str, Any]
    seed: int | None
    origin: str
    record: RecordedTrigger | None = None

    def describe(self) -> str:
        """``model card (poisoned by toyworld-pretrain, target heart)``, ``toy world defaults``, ..."""
        if self.origin == ORIGIN_CARD and self.record is not None:
            return f"{ORIGIN_CARD} (poisoned by {self.record.poisoned_by()})"
        return self.origin


def resolve_trigger_defaults(card: Any, attack: str, *, toy: bool | None = None) -> TriggerDefaults:
    """``trigger_defaults`` with its origin: the card's record of a poisoning with ``attack`` first.

    A toy model starts from the toy world's 32x32 settings, overridden by the record (its missing
    artefact falls back to the shipped one). Any other model takes the record only when the attack
    needs no artefact or the recorded file exists here; else the attack's own defaults.
    """
    record = recorded_trigger(getattr(card, "history", None), attack)
    if is_toy(card) if toy is None else toy:
        from cleanerclip_tool.toyworld.triggers import toy_trigger_defaults

        params, seed = toy_trigger_defaults(card, attack)
        return TriggerDefaults(params, seed, ORIGIN_CARD if record else ORIGIN_TOY, record)
    if record is not None and not record.artefact_missing():
        return TriggerDefaults(dict(record.params), record.seed, ORIGIN_CARD, record)
    return TriggerDefaults({}, None, ORIGIN_ATTACK)


def trigger_defaults(card: Any, attack: str, *, toy: bool | None = None) -> tuple[dict[str, Any], int | None]:
    """(params, seed) to start ``attack`` from before the user's overrides.

    For a toy model: the toy world's 32x32 settings, or those recorded in the card's history when the
    model was poisoned with this attack (seed included). Any other model: the recorded settings when
    its card records a poisoning with this attack (``purify`` on a ``poison`` folder records it) and
    their artefact is here, else ``({}, None)``: the attack's own defaults and the caller's seed.
    ``toy`` overrides the card's answer (the demo always scans with the toy settings, also on the
    stand-in models of its tests).
    """
    found = resolve_trigger_defaults(card, attack, toy=toy)
    return found.params, found.seed


__all__ = [
    "ORIGIN_ATTACK",
    "ORIGIN_CARD",
    "ORIGIN_FLAGS",
    "ORIGIN_TOY",
    "TriggerDefaults",
    "default_eval_data",
    "is_toy",
    "resolve_trigger_defaults",
    "trigger_defaults",
]
