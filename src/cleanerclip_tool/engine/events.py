"""Training events (rendered by the CLI with Rich and forwarded by the TUI as messages)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cleanerclip_tool.events import Event, WarningEvent


@dataclass(frozen=True)
class RunStarted(Event):
    method: str
    epochs: int
    steps_per_epoch: int
    total_steps: int
    samples: int
    device: str
    precision: str
    out: str
    resumed_from_step: int = 0


@dataclass(frozen=True)
class EpochStarted(Event):
    epoch: int  # 1-based
    epochs: int
    steps: int
    cfa_samples: int


@dataclass(frozen=True)
class StepDone(Event):
    epoch: int
    step: int  # global optimizer step, 1-based
    total_steps: int
    step_in_epoch: int
    steps_in_epoch: int
    losses: dict[str, float]
    lr: float
    samples_per_second: float
    eta_seconds: float


@dataclass(frozen=True)
class CheckpointWritten(Event):
    path: str
    step: int


@dataclass(frozen=True)
class EvalDone(Event):
    epoch: int
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StepSkipped(Event):
    step: int
    reason: str
    count: int


@dataclass(frozen=True)
class BatchSizeLowered(WarningEvent):
    """``--auto-batch`` lowered the batch after running out of memory. A ``WarningEvent`` (any renderer
    shows its message) because the contrastive objective changed: fewer in-batch negatives."""

    step: int
    old: int
    new: int
    total_steps: int  # the run's step count at the new batch size
    steps_in_epoch: int


@dataclass(frozen=True)
class RunFinished(Event):
    out: str
    steps: int
    seconds: float
    stopped: bool
