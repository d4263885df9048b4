"""Library events as text: the one formatter per event family that every face uses.

The CLI (Rich bars and lines on stderr) and the TUI (status lines and a log) lay events out
differently, but a loss, a rate or a checkpoint must read the same on both: so each quantity is
formatted here once, and so is the one-line form of each event that a face writes to a log.
No UI library is imported here (the boundary test keeps ``cleanerclip --help`` light, and the
library itself never prints).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cleanerclip_tool.events import Event, Info, TaskProgress, TaskStarted, WarningEvent

if TYPE_CHECKING:  # importing the engine package imports torch: only where training events exist
    from cleanerclip_tool.engine.events import (
        CheckpointWritten,
        EpochStarted,
        EvalDone,
        RunFinished,
        RunStarted,
        StepDone,
        StepSkipped,
    )

# --- quantities -------------------------------------------------------------------------------------


def losses_text(losses: Mapping[str, float]) -> str:
    """``clip 0.1234  cfa 0.5678``: four decimals, the precision at which a purification's terms move."""
    return "  ".join(f"{name} {value:.4f}" for name, value in losses.items())


def lr_text(lr: float) -> str:
    """Three significant digits: warmup lrs like 1.23e-07 stay readable, a plain 1e-05 stays short."""
    return f"{lr:.3g}"


def rate_text(samples_per_second: float) -> str:
    return f"{samples_per_second:.1f} samples/s"


def duration_text(seconds: float) -> str:
    """``h:mm:ss``: an ETA of hours reads at a glance, where ``36000s`` does not."""
    seconds = max(0, int(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def metrics_text(metrics: Mapping[str, Any]) -> str:
    """``name value`` pairs of an evaluation or a task, two spaces apart."""
    return "  ".join(f"{name} {value}" for name, value in metrics.items())


# --- events ------------------------------------------------------------------------------------------
# Each function gives what follows the event's label; a face puts the label (a status-grid key, a
# log prefix) in front, and ``event_text`` below is the labelled log line.


def run_started_text(event: RunStarted) -> str:
    """``cleanerclip on cpu (fp32), 4 steps/epoch, K=8 → out``."""
    text = (
        f"{event.method} on {event.device} ({event.precision}), {event.steps_per_epoch} steps/epoch"
        + (f", K={event.samples}" if event.samples else "")
        + f" → {event.out}"
    )
    return text + (f", resumed at step {event.resumed_from_step}" if event.resumed_from_step else "")


def epoch_started_text(event: EpochStarted) -> str:
    return f"{event.epoch}/{event.epochs}: {event.steps} steps, CFA samples {event.cfa_samples}"


def step_position_text(event: StepDone) -> str:
    return f"epoch {event.epoch} step {event.step}/{event.total_steps}"


def step_text(event: StepDone) -> str:
    """The whole step on one line, for logs and for stderr when it is not a terminal."""
    return (
        f"{step_position_text(event)}  {losses_text(event.losses)}  lr {lr_text(event.lr)}  "
        f"{rate_text(event.samples_per_second)}  eta {duration_text(event.eta_seconds)}"
    )


def checkpoint_text(event: CheckpointWritten, *, short: bool = False) -> str:
    """``at step 500: /runs/x/step-500.pt``; ``short`` keeps the file name only, for a status line
    that must fit 80 columns (the log has the full path)."""
    return f"at step {event.step}: {Path(event.path).name if short else event.path}"


def step_skipped_text(event: StepSkipped) -> str:
    return f"step {event.step} skipped: {event.reason} ({event.count} so far)"


def eval_text(event: EvalDone) -> str:
    return f"after epoch {event.epoch}: {metrics_text(event.metrics)}"


def run_finished_text(event: RunFinished) -> str:
    return f"{event.steps} steps in {event.seconds:.1f}s" + (" (stopped)" if event.stopped else "")


def task_progress_text(event: TaskProgress) -> str:
    done = f"{event.completed}/{event.total}" if event.total is not None else str(event.completed)
    return f"{event.task} {done}" + (f"  {metrics_text(event.metrics)}" if event.metrics else "")


def event_text(event: Event) -> str | None:
    """The labelled log line of any event, or None for events that only move a bar."""
    from cleanerclip_tool.engine.events import (
        CheckpointWritten,
        EpochStarted,
        EvalDone,
        RunFinished,
        RunStarted,
        StepDone,
        StepSkipped,
    )

    if isinstance(event, RunStarted):
        return f"run: {run_started_text(event)}"
    if isinstance(event, EpochStarted):
        return f"epoch {epoch_started_text(event)}"
    if isinstance(event, StepDone):
        return step_text(event)
    if isinstance(event, CheckpointWritten):
        return f"checkpoint {checkpoint_text(event)}"
    if isinstance(event, StepSkipped):
        return step_skipped_text(event)
    if isinstance(event, EvalDone):
        return f"eval {eval_text(event)}"
    if isinstance(event, RunFinished):
        return f"done: {run_finished_text(event)}"
    if isinstance(event, WarningEvent):  # before Info-like events: BatchSizeLowered is a WarningEvent with fields
        return f"warning: {event.message}"
    if isinstance(event, Info):
        return event.message
    if isinstance(event, TaskStarted):
        return event.description or None
    if isinstance(event, TaskProgress):
        return task_progress_text(event)
    message = getattr(event, "message", None)
    return None if message is None else str(message)
