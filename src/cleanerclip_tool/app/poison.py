"""What ``cleanerclip poison DATA`` poisons with, and why: trigger, seed and target captions.

On a folder of the toy world (``toyworld.world.world_of``: a ``world.json`` at or above it) the
defaults are the toy world's own: the 32x32 trigger settings it poisons its victims with
(``toyworld.triggers.toy_params``, the shipped SSBA encoder / BadCLIP patch included) and captions in
its own vocabulary (``toyworld.captions.target_captions``). Anywhere else they are the attack's
defaults (the papers', set for 224x224 photographs) and ``attacks.poison``'s caption pool. A flag
always wins; every choice carries its source, so the command can say what it used and why.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cleanerclip_tool.events import EventCallback, WarningEvent, ignore_event

if TYPE_CHECKING:
    from cleanerclip_tool.attacks.base import Trigger
    from cleanerclip_tool.data.captions import CaptionTable

SOURCE_TOY = "toy world defaults"
SOURCE_ATTACK = "attack defaults"
SOURCE_DEFAULT_SEED = "default"
#: How many target captions the summary lists (a natural-caption pool can be thousands long).
LISTED_CAPTIONS = 50


@dataclass
class PoisonPlan:
    """The trigger, seed and target-caption pool of one poisoning, each with where it came from."""

    attack: str
    trigger: Trigger
    seed: int
    seed_source: str  # "--seed" or "default"
    param_sources: dict[str, str]  # parameter -> "toy world defaults", "--trigger" or "--param"
    captions: list[str]
    captions_source: str  # "--target-captions", "toy world defaults", "templates", "natural captions ..."
    toy_world: Path | None = None

    def summary(self) -> dict[str, Any]:
        """The provenance part of ``poison --json``."""
        return {
            "toy_world": str(self.toy_world) if self.toy_world is not None else None,
            "sources": {
                "params": dict(self.param_sources),
                "other_params": SOURCE_ATTACK,
                "seed": self.seed_source,
                "target_captions": self.captions_source,
            },
            "target_captions": {
                "source": self.captions_source,
                "count": len(self.captions),
                "captions": self.captions[:LISTED_CAPTIONS],
                "truncated": len(self.captions) > LISTED_CAPTIONS,
            },
        }

    def lines(self) -> list[str]:
        """What the command prints before it writes: the trigger, the seed, the captions, and why."""
        params = self.trigger.describe()["params"]
        chosen = [f"{k}={params.get(k)!r} ({source})" for k, source in self.param_sources.items()]
        where = f" (toy world at {self.toy_world})" if self.toy_world is not None else ""
        first = f"trigger {self.attack}{where}: " + (", ".join(chosen) + "; the rest" if chosen else "all parameters")
        examples = "; ".join(repr(c) for c in self.captions[:3])
        more = f" and {len(self.captions) - 3} more" if len(self.captions) > 3 else ""
        return [
            f"{first}: the attack's defaults",
            f"seed {self.seed} ({self.seed_source})",
            f"target captions ({self.captions_source}): {examples}{more}",
        ]


def toy_world_of(data: str | Path) -> Path | None:
    """The toy world ``data`` belongs to, or None (also without the toy world installed)."""
    try:
        from cleanerclip_tool.toyworld.world import world_of
    except ImportError:
        return None
    return world_of(data)


def plan_poison(
    table: CaptionTable,
    attack: str,
    target: str,
    *,
    trigger_file: Path | None = None,
    params: Mapping[str, Any] | None = None,
    seed: int | None = None,
    target_captions: Sequence[str] | None = None,
    on_event: EventCallback = ignore_event,
) -> PoisonPlan:
    """The plan for poisoning ``table`` with ``attack`` toward ``target``.

    Precedence, lowest first: the toy world's settings (on a toy-world folder) or the attack's own,
    then ``--trigger`` (``trigger_file``), then ``--param`` (``params``). ``seed`` None is 0;
    ``target_captions`` (the lines of ``--target-captions``) win over the toy world's captions.
    """
    from cleanerclip_tool.app.triggers import artefact_params
    from cleanerclip_tool.attacks import get_trigger
    from cleanerclip_tool.attacks.poison import target_caption_pool

    world = toy_world_of(table.csv_path)
    chosen: dict[str, Any] = {}
    sources: dict[str, str] = {}
    if world is not None:
        from cleanerclip_tool.toyworld.triggers import toy_params

        # A --trigger file replaces the shipped artefact: leave that out rather than override it.
        toy = toy_params(attack, artefacts=trigger_file is None)
        chosen.update(toy)
        sources.update(dict.fromkeys(toy, SOURCE_TOY))
    from_file = artefact_params(attack, trigger_file)
    chosen.update(from_file)
    sources.update(dict.fromkeys(from_file, "--trigger"))
    given = dict(params or {})
    chosen.update(given)
    sources.update(dict.fromkeys(given, "--param"))
    trigger_seed = 0 if seed is None else int(seed)
    trigger = get_trigger(attack, seed=trigger_seed, **chosen)

    captions: Sequence[str] | None = target_captions
    captions_source = "--target-captions" if target_captions is not None else None
    if captions is None and world is not None:
        from cleanerclip_tool.toyworld.captions import SHAPES
        from cleanerclip_tool.toyworld.captions import target_captions as toy_captions

        captions, captions_source = toy_captions(target), SOURCE_TOY
        if target not in SHAPES:
            on_event(
                WarningEvent(
                    f"target {target!r} is not a toy-world shape ({', '.join(SHAPES)}): the toy world's "
                    "zero-shot scan cannot measure an attack toward it"
                )
            )
    pool, pool_source = target_caption_pool(table, trigger, target, captions, on_event)
    return PoisonPlan(
        attack=attack,
        trigger=trigger,
        seed=trigger_seed,
        seed_source="--seed" if seed is not None else SOURCE_DEFAULT_SEED,
        param_sources=sources,
        captions=pool,
        captions_source=captions_source or pool_source,
        toy_world=world,
    )


__all__ = ["LISTED_CAPTIONS", "SOURCE_ATTACK", "SOURCE_TOY", "PoisonPlan", "plan_poison", "toy_world_of"]
