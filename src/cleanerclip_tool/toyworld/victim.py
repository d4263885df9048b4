"""Backdoored toy victims built the paper's way: a clean model fine-tuned on a lightly poisoned set.

CleanerCLIP's threat model (and CleanCLIP's) is not a model poisoned from scratch: the victim is a
clean pretrained CLIP that the attacker fine-tunes on a set where a small fraction of pairs carry
the trigger (the paper: 1,500 of 500k CC3M pairs, batch 128, 5 epochs). A victim here is
``toy:clean`` fine-tuned by the same engine as every defence (``engine.purify``, method ``ft``) on
the toy world's train split plus ``poison_rate`` x (train pairs) triggered copies, each captioned
as the target in the world's own phrasing.

The rate and schedule of each attack (``VICTIM_RECIPES``) were chosen on victim seeds 0-2 by
``benchmarks/calibrate_victims.py``: the lowest rate at which the victim's top-1 attack success rate
is at least 85% with benign accuracy within one point of ``toy:clean`` on all three seeds (see
``docs/results/victims.md`` for the measured grid). The trigger's parameters are the toy world's
(``toyworld.triggers.toy_params``); the trigger seed is the victim seed. The saved card's history
records all of it, so ``scan`` of the victim, and of any model purified from it, uses the very
trigger the victim learnt.
"""

from __future__ import annotations

import hashlib
import math
import tempfile
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cleanerclip_tool.errors import BadInputError
from cleanerclip_tool.events import EventCallback, ignore_event
from cleanerclip_tool.toyworld.captions import SHAPES, TARGET_LABEL

#: The attacker's schedule (the paper's 5 epochs at batch 128); lr and warmup chosen on seeds 0-2.
VICTIM_SCHEDULE: dict[str, Any] = {"epochs": 5, "batch_size": 128, "lr": 1e-3, "warmup": 40}

#: Poisoning rate per attack: the lowest of the grid 1%, 3%, 5%, 10% that passes the calibration
#: rule on seeds 0-2 (docs/testbed.md; measured grid in docs/results/victims.md). WaNet and SSBA
#: pass at no rate of the grid (seed 0 at 10%: WaNet ASR@1 80.7%, SSBA 64.4%); their recipe is the
#: grid's highest rate, and they are left out of Table 1.
VICTIM_RECIPES: dict[str, dict[str, Any]] = {
    "badnet": {"poison_rate": 0.05},
    "blended": {"poison_rate": 0.01},
    "sig": {"poison_rate": 0.03},
    "wanet": {"poison_rate": 0.1},
    "ssba": {"poison_rate": 0.1},
    "badclip": {"poison_rate": 0.01},
}

#: The starting model: the attacker fine-tunes a clean pretrained model.
VICTIM_BASE = "toy:clean"


@dataclass(frozen=True)
class VictimSettings:
    """Everything that decides a victim (recorded in its card history)."""

    attack: str
    poison_rate: float | None = None  # None: the attack's recipe
    seed: int = 0  # fine-tuning order, poisoned-row choice and trigger seed
    target: str = TARGET_LABEL
    trigger_params: dict[str, Any] = field(default_factory=dict)
    base: str = VICTIM_BASE
    epochs: int = VICTIM_SCHEDULE["epochs"]
    batch_size: int = VICTIM_SCHEDULE["batch_size"]
    lr: float = VICTIM_SCHEDULE["lr"]
    warmup: int = VICTIM_SCHEDULE["warmup"]
    world_seed: int = 0
    world_size: int = 10_000
    max_steps: int | None = None  # cut a run short (smoke tests)
    device: str = "cpu"

    @property
    def rate(self) -> float:
        """The poisoning rate used: the explicit one, else the attack's recipe."""
        if self.poison_rate is not None:
            return self.poison_rate
        return float(VICTIM_RECIPES.get(self.attack, {}).get("poison_rate", 0.03))

    def validate(self) -> VictimSettings:
        from cleanerclip_tool.attacks import trigger_class

        trigger_class(self.attack)  # an unknown attack fails here, with the known names
        if self.target not in SHAPES:
            raise BadInputError(
                f"target must be a toy-world shape ({', '.join(SHAPES)}), got {self.target!r}", where="--target"
            )
        if not 0 < self.rate < 1:
            raise BadInputError(f"poison rate must be in (0, 1), got {self.rate}", where="--poison-rate")
        for name in ("epochs", "batch_size", "world_size"):
            if getattr(self, name) < 1:
                raise BadInputError(f"{name} must be >= 1 (got {getattr(self, name)})", where=f"--{name}")
        if self.warmup < 0:
            raise BadInputError(f"warmup must be >= 0 (got {self.warmup})", where="--warmup")
        if self.max_steps is not None and self.max_steps < 1:
            raise BadInputError(f"max steps must be >= 1 (got {self.max_steps})", where="--max-steps")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise BadInputError(f"lr must be > 0 (got {self.lr})", where="--lr")
        return self

    def resolved_trigger_params(self, *, artefacts: bool = False) -> dict[str, Any]:
        """The toy defaults of the attack overridden by ``trigger_params`` (artefact path only on request)."""
        from cleanerclip_tool.toyworld.triggers import toy_params

        return {**toy_params(self.attack, artefacts=artefacts), **self.trigger_params}

    def artefact_sha256(self) -> str | None:
        """SHA-256 of the trigger artefact (SSBA encoder, BadCLIP patch) the victim is poisoned with."""
        from cleanerclip_tool.attacks import artefact_param

        key = artefact_param(self.attack)
        path = self.resolved_trigger_params(artefacts=True).get(key) if key else None
        if not path or not Path(str(path)).is_file():
            return None
        return hashlib.sha256(Path(str(path)).read_bytes()).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["poison_rate"] = self.rate
        out["trigger_params"] = self.resolved_trigger_params()
        out["trigger_seed"] = self.seed
        out["artefact_sha256"] = self.artefact_sha256()
        return out


@dataclass
class VictimResult:
    model: Any  # open_clip CLIP, eval mode
    card: Any  # the starting model's card (history included)
    settings: VictimSettings
    seconds: float
    steps: int
    poisoned: int
    clean_pairs: int
    final_loss: float


def attacker_config(settings: VictimSettings, out: Path):
    """The engine configuration of the attacker's fine-tune: plain CLIP loss (``ft``) in fp32 on the CPU."""
    from cleanerclip_tool.config import PurifyConfig

    return PurifyConfig(
        method="ft",
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        warmup=settings.warmup,
        precision="fp32",
        device=settings.device,
        workers=0,
        seed=settings.seed,
        checkpoint_every=1_000_000,
        keep_checkpoints=1,
        out=str(out),
    )


def make_victim(
    settings: VictimSettings,
    *,
    world: Any = None,
    on_event: EventCallback = ignore_event,
    stop: threading.Event | None = None,
) -> VictimResult:
    """Fine-tune ``settings.base`` on the world's train split plus its poisoned copies.

    ``world`` is a ``WorldPaths`` (default: the cached world of ``world_seed``/``world_size``). Events:
    the world's and the poisoning's ``Task*``, then the engine's (``RunStarted``, ``StepDone`` ...).
    """
    from cleanerclip_tool.models.load import load_model
    from cleanerclip_tool.toyworld.pretrain import run_engine, training_table
    from cleanerclip_tool.toyworld.world import cached_world

    settings.validate()
    with tempfile.TemporaryDirectory(prefix="cleanerclip-victim-") as tmp:
        work = Path(tmp)
        if world is None:
            world = cached_world(seed=settings.world_seed, size=settings.world_size, on_event=on_event)
        table, poisoned = training_table(settings, world, work, on_event=on_event)
        loaded = load_model(settings.base, device=settings.device, on_event=on_event)
        config = attacker_config(settings, work / "run")
        run, seconds = run_engine(loaded, table, config, max_steps=settings.max_steps, on_event=on_event, stop=stop)
    return VictimResult(
        model=loaded.model.eval(),
        card=loaded.card,
        settings=settings,
        seconds=seconds,
        steps=run.steps,
        poisoned=poisoned,
        clean_pairs=len(table.rows) - poisoned,
        final_loss=float(run.final_losses.get("clip") or math.nan),
    )


def history_entry(result: VictimResult) -> dict[str, Any]:
    """What the victim's card history records (``scan`` reads ``settings`` to rebuild the trigger)."""
    return {
        "action": "toyworld-victim",
        "settings": result.settings.to_dict(),
        "poisoned_pairs": result.poisoned,
        "clean_pairs": result.clean_pairs,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "final_loss": round(result.final_loss, 4),
        "loop": "engine.purify(method='ft') from the base model, on train + poisoned copies",
    }


def save_victim(result: VictimResult, out: str | Path, *, overwrite: bool = False) -> Path:
    """Save as an open_clip folder; the card keeps the base model's history and adds the attack."""
    from cleanerclip_tool.models.card import ModelCard
    from cleanerclip_tool.models.save import save_model

    s = result.settings
    card = ModelCard.from_dict(
        {
            **result.card.to_dict(),
            "source": f"toyworld victim ({s.attack}, seed {s.seed}, from {s.base})",
            "kind": "folder",
        }
    )
    return save_model(result.model, out, card, notes=history_entry(result), overwrite=overwrite)


__all__ = [
    "VICTIM_BASE",
    "VICTIM_RECIPES",
    "VICTIM_SCHEDULE",
    "VictimResult",
    "VictimSettings",
    "attacker_config",
    "history_entry",
    "make_victim",
    "save_victim",
]
