"""Pretraining a tiny CLIP from scratch on the toy world, clean or poisoned.

There is one training loop in cleanerclip: pretraining is ``engine.purify(..., method="ft")`` (the
plain CLIP contrastive loss) started from a freshly initialised ``cleanerclip-toy`` instead of a
downloaded model, with CLIP-pretraining optimiser settings (AdamW betas 0.9/0.98, eps 1e-6, a far
higher learning rate than fine-tuning).

Poisoning is the same builder users run (``attacks.poison.build_poisoned_set``, i.e.
``cleanerclip poison``): ``poison_rate`` x (clean pairs) triggered copies of randomly chosen training
images, each captioned as the target in the world's own phrasing ("a big red heart"), so the
backdoor ties the trigger to the words zero-shot prompts use. The trigger parameters for 32x32 images
come from ``toyworld.triggers.toy_params`` (with the shipped SSBA encoder / BadCLIP patch), the same ones the
scan of a toy model uses, so the scan tests the very trigger a toy model was poisoned with.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cleanerclip_tool.errors import BadInputError
from cleanerclip_tool.events import Event, EventCallback, ignore_event
from cleanerclip_tool.toyworld.captions import SHAPES, TARGET_LABEL, target_captions
from cleanerclip_tool.toyworld.model_config import TOY_MODEL_NAME, toy_model_cfg

# CLIP pretraining's AdamW settings (Radford et al.), not the fine-tuning ones in PurifyConfig.
PRETRAIN_BETA2 = 0.98
PRETRAIN_EPS = 1e-6


@dataclass(frozen=True)
class PretrainSettings:
    """Everything that decides a pretraining run (recorded in the model card history)."""

    attack: str | None = None
    target: str = TARGET_LABEL
    poison_rate: float = 0.05
    trigger_params: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    world_seed: int = 0
    world_size: int = 10_000
    epochs: int = 10
    batch_size: int = 128
    lr: float = 2e-3
    weight_decay: float = 0.1
    warmup: int = 50
    max_steps: int | None = None  # cut a run short (smoke tests)
    device: str = "cpu"  # the shipped models are built on the CPU, where a seed fixes the result

    def validate(self) -> PretrainSettings:
        if self.target not in SHAPES:
            raise BadInputError(
                f"target must be a toy-world shape ({', '.join(SHAPES)}), got {self.target!r}", where="--target"
            )
        if self.attack is not None and not 0 < self.poison_rate < 1:
            raise BadInputError(f"poison rate must be in (0, 1), got {self.poison_rate}", where="--poison-rate")
        for name in ("epochs", "batch_size", "world_size"):
            if getattr(self, name) < 1:
                raise BadInputError(f"{name} must be >= 1 (got {getattr(self, name)})", where="pretrain")
        if self.max_steps is not None and self.max_steps < 1:
            raise BadInputError(f"max steps must be >= 1 (got {self.max_steps})", where="--max-steps")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise BadInputError(f"lr must be > 0 (got {self.lr})", where="--lr")
        return self

    @property
    def rate(self) -> float:
        """The poisoning rate (``training_table`` reads ``rate``: victims derive theirs from a recipe)."""
        return self.poison_rate

    def resolved_trigger_params(self, *, artefacts: bool = False) -> dict[str, Any]:
        """The trigger's parameters: the toy defaults overridden by ``trigger_params``.

        Without ``artefacts`` (what the model card records) the shipped artefact's path is left out:
        it is a path on the building machine; users of the record add ``toy_params``' own.
        """
        if self.attack is None:
            return {}
        from cleanerclip_tool.toyworld.triggers import toy_params

        return {**toy_params(self.attack, artefacts=artefacts), **self.trigger_params}

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["trigger_params"] = self.resolved_trigger_params()
        return out


@dataclass
class PretrainResult:
    model: Any  # open_clip CLIP, eval mode
    settings: PretrainSettings
    seconds: float
    steps: int
    pairs_per_second: float
    final_loss: float
    poisoned: int
    history: list[dict[str, Any]]


def training_table(settings: Any, world: Any, work_dir: Path, *, on_event: EventCallback = ignore_event):
    """The caption table a toy builder trains on: the world's train split, plus the poisoned copies.

    ``settings`` is a ``PretrainSettings`` or a ``toyworld.victim.VictimSettings``: it reads their
    ``attack``, ``rate``, ``seed``, ``target`` and ``resolved_trigger_params``.

    Returns ``(table, poisoned_count)``. A poisoned set is written by ``build_poisoned_set`` into
    ``work_dir`` (clean rows linked or copied, never modified).
    """
    from cleanerclip_tool.data.captions import load_caption_table

    table = load_caption_table(world.train)
    if not table.rows:
        raise BadInputError("no usable training pairs", where=world.train)
    if settings.attack is None:
        return table, 0
    from cleanerclip_tool.attacks import get_trigger
    from cleanerclip_tool.attacks.poison import build_poisoned_set

    trigger = get_trigger(settings.attack, seed=settings.seed, **settings.resolved_trigger_params(artefacts=True))
    count = max(1, round(settings.rate * len(table.rows)))
    folder = build_poisoned_set(
        table,
        trigger,
        settings.target,
        count,
        work_dir / "poisoned",
        seed=settings.seed,
        target_captions=target_captions(settings.target),
        on_event=on_event,
    )
    return load_caption_table(folder / "captions.csv"), count


def purify_config(settings: PretrainSettings, out: Path):
    """The engine configuration of a pretraining run: method ``ft`` from scratch."""
    from cleanerclip_tool.config import PurifyConfig

    return PurifyConfig(
        method="ft",
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        lr=settings.lr,
        weight_decay=settings.weight_decay,
        beta2=PRETRAIN_BETA2,
        eps=PRETRAIN_EPS,
        warmup=settings.warmup,
        precision="fp32",
        device=settings.device,
        workers=0,
        seed=settings.seed,
        checkpoint_every=1_000_000,  # epoch-end checkpoints only: the run is minutes long
        keep_checkpoints=1,
        out=str(out),
    )


def run_engine(
    loaded: Any,
    table: Any,
    config: Any,
    *,
    max_steps: int | None,
    on_event: EventCallback,
    stop: threading.Event | None = None,
) -> tuple[Any, float]:
    """``engine.purify`` for the toy world's builders (pretraining, victims): (run result, seconds).

    ``max_steps`` cuts a run short (smoke tests): the engine stops after that step; ``stop`` lets a
    caller stop it too (Ctrl-C).
    """
    from cleanerclip_tool.engine import purify
    from cleanerclip_tool.engine.events import StepDone

    stop = stop or threading.Event()

    def forward(event: Event) -> None:
        if max_steps is not None and isinstance(event, StepDone) and event.step >= max_steps:
            stop.set()  # the engine stops after this step
        on_event(event)

    t0 = time.perf_counter()
    run = purify(loaded, table, config, on_event=forward, stop=stop)
    return run, time.perf_counter() - t0


def pretrain(
    settings: PretrainSettings,
    *,
    world: Any = None,
    on_event: EventCallback = ignore_event,
) -> PretrainResult:
    """Train ``cleanerclip-toy`` from scratch on the world's train split, poisoned if ``settings.attack``.

    ``world`` is a ``WorldPaths`` (default: the cached world for ``world_seed``/``world_size``).
    World drawing and poisoning report ``Task*`` events, training the engine's (``RunStarted``,
    ``StepDone``, ...), all through ``on_event``.
    """
    from cleanerclip_tool.models.load import build_loaded_model
    from cleanerclip_tool.toyworld.model_config import create_toy_model
    from cleanerclip_tool.toyworld.world import cached_world

    settings.validate()
    with tempfile.TemporaryDirectory(prefix="cleanerclip-pretrain-") as tmp:
        work = Path(tmp)
        if world is None:
            world = cached_world(seed=settings.world_seed, size=settings.world_size, on_event=on_event)
        table, poisoned = training_table(settings, world, work, on_event=on_event)
        model = create_toy_model(settings.seed)
        loaded = build_loaded_model(
            toy_model_cfg(),
            model,
            source=f"toyworld pretrain (seed {settings.seed})",
            kind="toy",
            architecture=TOY_MODEL_NAME,
        )
        run, seconds = run_engine(
            loaded, table, purify_config(settings, work / "run"), max_steps=settings.max_steps, on_event=on_event
        )
    model = loaded.model.eval()
    return PretrainResult(
        model=model,
        settings=settings,
        seconds=seconds,
        steps=run.steps,
        pairs_per_second=run.samples_per_second,
        final_loss=float(run.final_losses.get("total", run.final_losses.get("clip", math.nan))),
        poisoned=poisoned,
        history=run.history,
    )


def history_entry(result: PretrainResult) -> dict[str, Any]:
    """What the model card's history records about this pretraining run."""
    return {
        "action": "toyworld-pretrain",
        "settings": result.settings.to_dict(),
        "poisoned_pairs": result.poisoned,
        "steps": result.steps,
        "seconds": round(result.seconds, 1),
        "final_loss": round(result.final_loss, 4),
        "loop": "engine.purify(method='ft') from a fresh init",
    }


def save_pretrained(result: PretrainResult, out: str | Path, *, overwrite: bool = False) -> Path:
    """Save like any purified model (``models.save.save_model``), with the run in the card history."""
    from cleanerclip_tool.models.card import ModelCard
    from cleanerclip_tool.models.save import save_model

    model = result.model
    card = ModelCard(
        architecture=TOY_MODEL_NAME,
        source=f"toyworld pretrain (seed {result.settings.seed})",
        kind="folder",
        parameters=sum(p.numel() for p in model.parameters()),
        model_cfg=toy_model_cfg(),
    )
    # save_model appends ``notes`` to the card history (with a timestamp): one entry per pretraining.
    return save_model(model, out, card, notes=history_entry(result), overwrite=overwrite)
