"""Live Rich progress for training events (stderr only; plain lines when stderr is not a terminal).

The words and numbers come from ``cleanerclip_tool.eventtext``, shared with the TUI; this module
only lays them out (bars, a status grid, scroll-back lines).
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from cleanerclip_tool.cli.common import console
from cleanerclip_tool.cli.render import print_event
from cleanerclip_tool.engine.events import (
    BatchSizeLowered,
    CheckpointWritten,
    EpochStarted,
    EvalDone,
    RunFinished,
    RunStarted,
    StepDone,
    StepSkipped,
)
from cleanerclip_tool.events import Event
from cleanerclip_tool.eventtext import (
    checkpoint_text,
    losses_text,
    lr_text,
    metrics_text,
    rate_text,
    run_finished_text,
    run_started_text,
    step_skipped_text,
    step_text,
)


class TrainingDisplay:
    """Renders engine events: epoch and step bars with ETA, loss terms, lr, samples/s, last checkpoint."""

    def __init__(self, *, quiet: bool = False, live: bool | None = None) -> None:
        self.quiet = quiet
        self.live_enabled = console.is_terminal if live is None else live
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        )
        self.epoch_task: Any = None
        self.step_task: Any = None
        self.status: dict[str, str] = {}
        self._live: Live | None = None
        self._last_plain = 0.0

    def _panel(self) -> Table:
        grid = Table.grid(padding=(0, 1))
        grid.add_row(self.progress)
        for key, value in self.status.items():
            grid.add_row(f"[cyan]{key}[/] {value}")
        return grid

    def __enter__(self) -> TrainingDisplay:
        if self.live_enabled and not self.quiet:
            self._live = Live(self._panel(), console=console, refresh_per_second=8, transient=False)
            self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.update(self._panel())
            self._live.__exit__(exc_type, exc, tb)

    def __call__(self, event: Event) -> None:
        if self.quiet:
            return
        if isinstance(event, RunStarted):
            self.epoch_task = self.progress.add_task("epochs", total=event.epochs)
            self.step_task = self.progress.add_task("steps", total=event.total_steps, completed=event.resumed_from_step)
            self.status["run"] = run_started_text(event)
            self._plain(f"purify: {self.status['run']}")
        elif isinstance(event, EpochStarted):
            self.progress.update(self.epoch_task, completed=event.epoch - 1, description=f"epoch {event.epoch}")
        elif isinstance(event, StepDone):
            self.progress.update(self.step_task, completed=event.step)
            self.status["loss"] = losses_text(event.losses)
            self.status["lr"] = f"{lr_text(event.lr)}   {rate_text(event.samples_per_second)}"
            if time.monotonic() - self._last_plain > 5 or event.step == event.total_steps:
                self._plain(step_text(event))
        elif isinstance(event, CheckpointWritten):
            self.status["checkpoint"] = checkpoint_text(event)
        elif isinstance(event, StepSkipped):
            key = "AMP skipped steps" if "AMP" in event.reason else "skipped steps"
            self.status[key] = f"{event.count} (last: {event.reason} at step {event.step})"
            self._warn(step_skipped_text(event))
        elif isinstance(event, BatchSizeLowered):
            if self.step_task is not None:
                self.progress.update(self.step_task, total=event.total_steps)
            self.status["batch size"] = f"{event.new} (from {event.old} at step {event.step}: objective changed)"
            self._warn(event.message)
        elif isinstance(event, EvalDone):
            self.status[f"eval epoch {event.epoch}"] = metrics_text(event.metrics)
        elif isinstance(event, RunFinished):
            if self.epoch_task is not None:
                self.progress.update(self.epoch_task, completed=self.progress.tasks[self.epoch_task].total)
            self.status["done"] = run_finished_text(event)
        else:
            if self._live is not None:
                self._live.console.print(str(getattr(event, "message", event)), markup=False)
            else:
                print_event(event)
        if self._live is not None:
            self._live.update(self._panel())

    def _warn(self, line: str) -> None:
        """A warning line that stays in the scroll-back, above a live display too."""
        if self._live is not None:
            self._live.console.print(f"warning: {line}", markup=False, highlight=False)
        else:
            console.print(f"warning: {line}", markup=False, highlight=False)

    def _plain(self, line: str, force: bool = False) -> None:
        if self._live is None or force:
            if self._live is None:
                console.print(line, markup=False, highlight=False)
            self._last_plain = time.monotonic()
