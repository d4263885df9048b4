"""Run pane: purify() in a worker thread; its events drive the progress line, the loss chart and the log.

The text of each event comes from ``cleanerclip_tool.eventtext``, as on the command line.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import ProgressBar, RichLog, Static

from cleanerclip_tool.eventtext import (
    checkpoint_text,
    duration_text,
    event_text,
    losses_text,
    lr_text,
    rate_text,
    step_position_text,
)
from cleanerclip_tool.tui.messages import LibraryEvent, RunDone, WorkFailed, describe_error
from cleanerclip_tool.tui.widgets.losschart import LossChart
from cleanerclip_tool.tui.workers import WorkerPane


class RunScreen(WorkerPane, Vertical):
    """Holds the stop event: Stop sets it, the engine stops after the step and keeps its checkpoint."""

    PANE_KEYS: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("ctrl+x", "stop", "Stop"),
        ("ctrl+g", "resume", "Resume"),
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stop_event = threading.Event()
        self.running = False
        self.last_config: Any = None
        self.checkpoints: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("idle: configure a run and press Start (F3, ctrl+t)", id="run-progress", classes="status")
        yield ProgressBar(total=100, show_eta=False, id="run-bar")
        with Horizontal(id="run-body"):
            yield LossChart(id="loss-chart")
            yield RichLog(id="run-log", max_lines=2000, wrap=True, markup=False, min_width=20)  # wrap to the pane
        yield Static("checkpoints: none yet", id="checkpoints")

    # --- starting and stopping ----------------------------------------------------------------
    def start(self, config: Any, resume: bool = False) -> bool:
        """Start purify() with ``config``; False (and a log line) when a run is already going."""
        session = self.app.session
        if self.running:
            self.log_line("a run is already going; Stop it first")
            return False
        if session.loaded is None or session.table is None:
            self.log_line("resolve a model and load data first")
            return False
        self.stop_event = threading.Event()
        self.running = True
        self.last_config = config
        if not resume:
            self.query_one(LossChart).reset()
            self.checkpoints = []
        self.log_line(f"{'resuming' if resume else 'starting'} {config.method} into {config.out}")
        self.purify_worker(session.loaded, session.table, config, resume, self.stop_event)
        return True

    def action_stop(self) -> None:
        if not self.running:
            self.log_line("nothing to stop")
            return
        self.stop_event.set()
        self.log_line("stop requested: finishing the current step and writing a checkpoint ...")

    def action_resume(self) -> None:
        if self.running:
            self.log_line("already running")
            return
        if self.last_config is None:
            self.log_line("nothing to resume: start a run first")
            return
        self.start(self.last_config, resume=True)

    # A failure is reported by WorkerPane.on_worker_state_changed as WorkFailed("purify"). Stop is
    # the engine's own ``stop`` event (it finishes the step and keeps a checkpoint), not a cancel.
    @work(thread=True, exclusive=True, group="purify", name="purify", exit_on_error=False)
    def purify_worker(self, loaded: Any, table: Any, config: Any, resume: bool, stop: threading.Event) -> None:
        from cleanerclip_tool.engine import purify

        Path(config.out).mkdir(parents=True, exist_ok=True)
        result = purify(
            loaded, table, config, on_event=lambda e: self.post_message(LibraryEvent(e)), stop=stop, resume=resume
        )
        self.post_message(RunDone(result))

    # --- events from the worker ---------------------------------------------------------------
    def on_library_event(self, message: LibraryEvent) -> None:
        from cleanerclip_tool.engine import events as ev
        from cleanerclip_tool.events import TaskFinished, TaskProgress, TaskStarted

        event = message.event
        if isinstance(event, ev.RunStarted):
            bar = self.query_one("#run-bar", ProgressBar)
            bar.update(total=event.total_steps, progress=event.resumed_from_step)
        elif isinstance(event, ev.StepDone):
            self.query_one("#run-bar", ProgressBar).update(total=event.total_steps, progress=event.step)
            self.query_one("#run-progress", Static).update(
                f"{step_position_text(event)} · ETA {duration_text(event.eta_seconds)}"
                f" · {rate_text(event.samples_per_second)} · lr {lr_text(event.lr)}\n{losses_text(event.losses)}"
            )
            self.query_one(LossChart).add_step(event.step, event.losses)
            return  # every step is on the status line and the chart; the log keeps the milestones
        elif isinstance(event, ev.CheckpointWritten):
            self.checkpoints.append(f"step {event.step}: {event.path}")
            # One line at 80 columns: the file name here, the full path in the log.
            self.query_one("#checkpoints", Static).update(
                f"checkpoints: {len(self.checkpoints)} written; last {checkpoint_text(event, short=True)}"
            )
        elif isinstance(event, (TaskStarted, TaskProgress, TaskFinished)):
            return  # sub-task bars of the library: the run has its own bar
        text = event_text(event)
        if text:
            self.log_line(text)

    def on_work_failed(self, message: WorkFailed) -> None:
        self.running = False
        self.log_line(f"{message.what} failed: {describe_error(message.error)}")
        self.query_one("#run-progress", Static).update(f"failed: {describe_error(message.error)}")

    def on_run_done(self, message: RunDone) -> None:
        self.running = False
        result = message.result
        if result.stopped:
            state = f"stopped at step {result.steps}; checkpoint kept in {result.out} (Resume: ctrl+g)"
        else:
            state = f"done: {result.steps} steps in {result.seconds:.1f}s; purified model: {result.model_dir}"
        self.query_one("#run-progress", Static).update(state)
        self.log_line(state)

    def log_line(self, text: str) -> None:
        self.query_one("#run-log", RichLog).write(text)
