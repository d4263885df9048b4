"""How a model was poisoned, as its card's history records it.

Three kinds of history entry say which trigger a model learnt:

* the toy world's pretraining (``"action": "toyworld-pretrain"``) and victims
  (``"toyworld-victim"``) keep their run's ``settings``: ``attack``, ``trigger_params``, ``seed``
  and, for victims, ``trigger_seed`` and ``artefact_sha256``;
* ``purify`` on a folder ``poison`` wrote (``attacks.poison.build_poisoned_set``) keeps a
  ``poisoning`` summary of that folder's manifest (``poisoning_record``).

A saved model's card carries its ancestors' history, so a purified (or re-poisoned) descendant
still says which trigger its ancestor learnt; the newest entry for an attack wins. The scan reads
this (``app.defaults``) to test the very trigger the model was poisoned with. This module is
generic: it knows entries, not the toy world.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The history-entry keys that may hold a poisoning's settings, in the order they are looked at.
SETTINGS_KEYS: tuple[str, ...] = ("settings", "poisoning")


@dataclass(frozen=True)
class RecordedTrigger:
    """One attack as a history entry recorded it."""

    attack: str
    params: dict[str, Any]
    seed: int | None  # the trigger's seed: ``trigger_seed`` where recorded, else ``seed``
    action: str | None = None  # the entry's action: toyworld-pretrain, toyworld-victim, purify, ...
    target: str | None = None
    artefact_sha256: str | None = None
    saved: str | None = None
    data: str | None = None  # the poisoned folder a ``purify`` trained on
    entry: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def artefact_key(self) -> str | None:
        """The parameter holding this attack's artefact file (SSBA encoder, BadCLIP patch, custom image)."""
        from cleanerclip_tool.attacks import artefact_param

        return artefact_param(self.attack) or ("image" if self.attack == "custom" else None)

    def artefact_missing(self) -> bool:
        """True when the attack needs a file and the recorded one is not there (or none was recorded)."""
        key = self.artefact_key()
        if key is None:
            return False
        value = self.params.get(key)
        return value is None or not Path(str(value)).is_file()

    def poisoned_by(self) -> str:
        """A short phrase for reports: ``toyworld-pretrain, target heart``."""
        if self.action == "purify" and self.data:
            what = f"training on {Path(self.data).name or self.data}"
        else:
            what = self.action or "an earlier run"
        return f"{what}, target {self.target}" if self.target else what

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "saved": self.saved,
            "target": self.target,
            "seed": self.seed,
            "artefact_sha256": self.artefact_sha256,
            "data": self.data,
        }


def _as_int(value: Any) -> int | None:
    try:
        return None if value is None or isinstance(value, bool) else int(value)
    except (TypeError, ValueError):
        return None


def recorded_trigger(history: Iterable[Any] | None, attack: str) -> RecordedTrigger | None:
    """The newest history entry that poisoned with ``attack``, or None.

    An entry counts when one of its ``SETTINGS_KEYS`` holds a dict whose ``attack`` is ``attack``;
    its trigger seed is ``trigger_seed`` when recorded (toy victims, poisoned sets), else ``seed``.
    """
    for entry in reversed(list(history or [])):
        if not isinstance(entry, Mapping):
            continue
        for key in SETTINGS_KEYS:
            settings = entry.get(key)
            if not isinstance(settings, Mapping) or settings.get("attack") != attack:
                continue
            seed = _as_int(settings.get("trigger_seed"))
            return RecordedTrigger(
                attack=attack,
                params=dict(settings.get("trigger_params") or {}),
                seed=seed if seed is not None else _as_int(settings.get("seed")),
                action=entry.get("action"),
                target=settings.get("target"),
                artefact_sha256=settings.get("artefact_sha256"),
                saved=entry.get("saved"),
                data=settings.get("data"),
                entry=entry,
            )
    return None


__all__ = ["SETTINGS_KEYS", "RecordedTrigger", "recorded_trigger"]
