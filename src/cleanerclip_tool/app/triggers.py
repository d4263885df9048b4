"""From what the user named to the triggers a scan applies.

Attack names (``--attack badnet,sig`` or ``all``), parameter overrides (``--param badnet.size_px=5``),
an artefact file (``--trigger patch.png``) and the model card together decide each trigger's
parameters and seed. The CLI's ``scan`` and ``poison``, the TUI's scan pane and the demo all build
triggers here, so a model is scanned with the same trigger whichever face asks.

Precedence for one attack, lowest first: the model's defaults (``app.defaults.trigger_defaults``:
the settings the card, or an ancestor's, recorded when the model was poisoned, else the toy world's
settings for a toy model), then the ``--trigger`` file, then ``--param``; an explicit ``--seed``
wins over a recorded seed. A non-toy model must be given the SSBA encoder / BadCLIP patch unless
its card recorded one that exists here. Each attack's plan says which of these decided it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cleanerclip_tool.app.defaults import ORIGIN_FLAGS, is_toy, resolve_trigger_defaults
from cleanerclip_tool.errors import BadInputError

if TYPE_CHECKING:
    from cleanerclip_tool.attacks.base import Trigger


def parse_params(items: list[str] | None, attacks: list[str]) -> dict[str, dict[str, Any]]:
    """``--param [attack.]name=value`` (value as JSON, else text) -> {attack: {name: value}}."""
    from cleanerclip_tool.attacks import trigger_class

    out: dict[str, dict[str, Any]] = {a: {} for a in attacks}
    for item in items or []:
        if "=" not in item:
            raise BadInputError(f"expected NAME=VALUE, got {item!r}", where="--param")
        key, raw = item.split("=", 1)
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        scope, _, name = key.strip().rpartition(".")
        targets = [scope] if scope else attacks
        if scope and scope not in attacks:
            raise BadInputError(f"--param for {scope!r}, which is not among the attacks", where="--param")
        matched = False
        for attack in targets:
            fields = {f.name for f in dataclasses.fields(trigger_class(attack).Params)}
            if name in fields:
                out[attack][name] = value
                matched = True
        if not matched:
            raise BadInputError(f"no attack among {', '.join(targets)} has a parameter {name!r}", where="--param")
    return out


def parse_attacks(text: str) -> list[str]:
    """``--attack a,b`` or ``all`` (the paper's six) -> known names, in order, each once."""
    from cleanerclip_tool.attacks import PAPER_ATTACKS, list_triggers

    names: list[str] = []
    for part in (p.strip().lower() for p in text.split(",")):
        if not part:
            continue
        chosen = list(PAPER_ATTACKS) if part == "all" else [part]
        for name in chosen:
            if name not in list_triggers():
                raise BadInputError(
                    f"unknown attack {name!r}", where="--attack", hint=f"known: all, {', '.join(list_triggers())}"
                )
            if name not in names:
                names.append(name)
    if not names:
        raise BadInputError("no attack given", where="--attack")
    return names


ARTEFACT_HOWTO = {
    "ssba": "--param ssba.encoder=ENC.safetensors (cleanerclip trigger train-ssba)",
    "badclip": "--param badclip.patch=PATCH.png (cleanerclip trigger optimize-badclip)",
}


def missing_artefacts(names: Sequence[str], params: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The attacks among ``names`` whose artefact parameter (SSBA encoder, BadCLIP patch) is unset."""
    from cleanerclip_tool.attacks import artefact_param

    return [n for n in names if artefact_param(n) is not None and params[n].get(artefact_param(n)) is None]


def artefact_howto(names: Sequence[str]) -> str:
    """How to give each of ``names`` its artefact, one clause each."""
    return "; ".join(ARTEFACT_HOWTO.get(n, f"--param {n}.<file>=FILE") for n in names)


def require_artefacts(names: list[str], params: dict[str, dict[str, Any]]) -> None:
    """SSBA and BadCLIP on a non-toy model need the user's encoder / patch: say so before loading."""
    missing = missing_artefacts(names, params)
    if missing:
        raise BadInputError(
            f"{', '.join(missing)} need{'s' if len(missing) == 1 else ''} a trigger artefact for a non-toy model",
            where="--trigger",
            hint="pass --trigger FILE, or "
            + artefact_howto(missing)
            + "; or leave them out, e.g. --attack badnet,blended,sig,wanet",
        )


def artefact_params(attack: str, trigger_file: Path | None) -> dict[str, Any]:
    """Route ``--trigger FILE`` to the parameter of each attack that takes a file."""
    if trigger_file is None:
        return {}
    is_weights = trigger_file.suffix.lower() == ".safetensors"
    if attack == "ssba" and is_weights:
        return {"encoder": str(trigger_file)}
    if attack == "badclip" and not is_weights:
        return {"patch": str(trigger_file)}
    if attack == "custom" and not is_weights:
        return {"image": str(trigger_file)}
    return {}


def build_triggers(
    card: Any,
    names: Sequence[str],
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    trigger_file: Path | None = None,
    seed: int = 0,
    trigger_seed: int | None = None,
    toy: bool | None = None,
) -> list[Trigger]:
    """One ``attacks.Trigger`` per name, for the model ``card`` describes.

    ``overrides`` is ``parse_params``' result; ``seed`` is used where the card records none, and
    ``trigger_seed`` (an explicit ``--seed``) wins over the card. ``toy`` overrides the card's answer
    to "is this a toy model?" (None: ask the card). A non-toy model without the artefact an attack
    needs is a ``BadInputError`` before anything is built.
    """
    plan = plan_triggers(
        card, names, overrides=overrides, trigger_file=trigger_file, seed=seed, trigger_seed=trigger_seed, toy=toy
    )
    return plan.triggers


@dataclass
class TriggerPlan:
    """What ``plan_triggers`` decided: the triggers, the attacks left out, and per attack where its
    settings came from (``sources[name]``: ``origin``, ``text``, ``flags``, ``record``)."""

    triggers: list[Trigger]
    skipped: list[str] = field(default_factory=list)
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)


def plan_triggers(
    card: Any,
    names: Sequence[str],
    *,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
    trigger_file: Path | None = None,
    seed: int = 0,
    trigger_seed: int | None = None,
    toy: bool | None = None,
    skip_missing: bool = False,
) -> TriggerPlan:
    """``build_triggers``' plan, except that with ``skip_missing`` the attacks a non-toy model lacks
    an artefact for are left out (and named) instead of refused.

    Each attack's source says what decided it: ``flags`` when ``--param``, ``--trigger`` or ``--seed``
    changed anything (over the defaults named in its text), else ``model card`` (the card records a
    poisoning with it), ``toy world defaults`` or ``attack defaults``.
    """
    from cleanerclip_tool.attacks import get_trigger

    toy = is_toy(card) if toy is None else toy
    chosen: dict[str, dict[str, Any]] = {}
    seeds: dict[str, int] = {}
    sources: dict[str, dict[str, Any]] = {}
    for name in names:
        found = resolve_trigger_defaults(card, name, toy=toy)
        params = dict(found.params)
        from_file = artefact_params(name, trigger_file)
        given = dict((overrides or {}).get(name, {}))
        params.update(from_file)
        params.update(given)
        flags = [flag for flag, used in (("--param", given), ("--trigger", from_file)) if used]
        if trigger_seed is not None:
            flags.append("--seed")
            seeds[name] = int(trigger_seed)
        else:
            seeds[name] = seed if found.seed is None else int(found.seed)
        chosen[name] = params
        base = found.describe()
        sources[name] = {
            "origin": ORIGIN_FLAGS if flags else found.origin,
            "text": f"{ORIGIN_FLAGS} ({', '.join(flags)}) over {base}" if flags else base,
            "flags": flags,
            "record": found.record.to_dict() if found.record is not None else None,
        }
    skipped: list[str] = []
    if not toy:
        if skip_missing:
            skipped = missing_artefacts(list(names), chosen)
        require_artefacts([n for n in names if n not in skipped], chosen)
    triggers = [get_trigger(name, seed=seeds[name], **chosen[name]) for name in names if name not in skipped]
    return TriggerPlan(triggers, skipped, {n: sources[n] for n in names if n not in skipped})


__all__ = [
    "TriggerPlan",
    "artefact_howto",
    "artefact_params",
    "build_triggers",
    "missing_artefacts",
    "parse_attacks",
    "parse_params",
    "plan_triggers",
    "require_artefacts",
]
