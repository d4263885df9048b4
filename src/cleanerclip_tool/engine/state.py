"""Where a purification run is, and the one schema of what its checkpoints hold.

``TrainState`` is written by ``to_state`` and read back by ``from_state``: the two sides of the
checkpoint format live next to each other so they cannot drift apart. Everything in a checkpoint
is tensors, numbers and strings (lists are stored as JSON text), so resume loads it with
``torch.load(weights_only=True)`` like any other untrusted file.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import torch

from cleanerclip_tool.engine import checkpoint as ckpt


@dataclass
class TrainState:
    """The counters a run advances and a resumed run continues from.

    ``batch_size`` is per process and may be lowered by ``--auto-batch``; the learning-rate
    schedule keeps counting in steps of ``schedule_batch`` (the size the run started with), so a
    lowered batch follows the same curve over the data: ``schedule_step`` advances by
    ``batch_size / schedule_batch`` per optimizer step.
    """

    batch_size: int
    schedule_batch: int
    epoch: int = 0  # 0-based epoch the run is in
    batch_in_epoch: int = 0  # batches of this epoch already consumed (micro-batches under accumulation)
    step: int = 0  # optimizer steps taken
    schedule_step: float = 0.0
    skipped_steps: int = 0  # non-finite losses
    amp_skipped_steps: int = 0  # optimizer steps the GradScaler skipped
    history: list[dict[str, Any]] = field(default_factory=list)
    batch_changes: list[dict[str, Any]] = field(default_factory=list)
    start_model: str = ""  # fingerprint of the starting weights, for methods that keep a frozen copy

    def to_state(
        self,
        *,
        epoch: int,
        batch_in_epoch: int,
        accum_steps: int,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
        config: dict[str, Any],
    ) -> dict[str, Any]:
        """The checkpoint dict for resuming at (``epoch``, ``batch_in_epoch``), which need not be where
        the run is: an epoch's end is saved as the start of the next."""
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": scaler.state_dict() if scaler is not None else {},
            "step": self.step,
            "epoch": epoch,
            "batch_in_epoch": batch_in_epoch,
            "step_in_epoch": batch_in_epoch // accum_steps,
            "batch_size": self.batch_size,
            "schedule_batch": self.schedule_batch,
            "schedule_step": self.schedule_step,
            "batch_changes_json": json.dumps(self.batch_changes),
            "skipped_steps": self.skipped_steps,
            "amp_skipped_steps": self.amp_skipped_steps,
            "config": json.dumps(config, default=str),
            "history_json": json.dumps(self.history, default=str),
            "start_model": self.start_model,
            "rng": ckpt.rng_state(),
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], *, batch_size: int) -> TrainState:
        """The counters of a checkpoint. Older checkpoints lack the batch-size keys: they were written
        before the batch could change, at the run's ``batch_size``, so their step count is also their
        schedule position."""
        step = int(state["step"])
        batch_size = int(state.get("batch_size", batch_size))
        return cls(
            batch_size=batch_size,
            schedule_batch=int(state.get("schedule_batch", batch_size)),
            epoch=int(state["epoch"]),
            batch_in_epoch=int(state["batch_in_epoch"]),
            step=step,
            schedule_step=float(state.get("schedule_step", step)),
            skipped_steps=int(state.get("skipped_steps", 0)),
            amp_skipped_steps=int(state.get("amp_skipped_steps", 0)),
            history=json.loads(state.get("history_json", "[]")),
            batch_changes=json.loads(state.get("batch_changes_json", "[]")),
            start_model=str(state.get("start_model", "")),
        )

    @staticmethod
    def restore_training(
        state: dict[str, Any],
        *,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
    ) -> None:
        """Load the weights, optimizer, scaler and RNG states a checkpoint holds."""
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        if scaler is not None and state.get("scaler"):
            scaler.load_state_dict(state["scaler"])
        ckpt.restore_rng_state(state["rng"])


def frozen_copy(model: torch.nn.Module) -> torch.nn.Module:
    """A copy of ``model`` that never trains: no gradients, and in eval mode, so that its BatchNorm
    statistics stay those of the starting model (a reference that drifted would not be one)."""
    frozen = copy.deepcopy(model).eval()
    frozen.requires_grad_(False)
    return frozen


def model_fingerprint(model: torch.nn.Module) -> str:
    """sha256 over the model's state (names, shapes, dtypes and values), to recognise a start model."""
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tuple(value.shape)}:{value.dtype}".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
