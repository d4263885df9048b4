"""Rendering library events on the stderr console (never on stdout, which --json owns).

The text of each event comes from ``cleanerclip_tool.eventtext`` (shared with the TUI); here it is
laid out as Rich bars and lines.
"""

from __future__ import annotations

import time
from typing import Any

from cleanerclip_tool.cli.common import console
from cleanerclip_tool.events import Event, Info, WarningEvent
from cleanerclip_tool.eventtext import eval_text, losses_text, metrics_text, rate_text, step_text

PLAIN_EVERY = 5.0  # seconds between plain progress lines when stderr is not a terminal


def print_event(event: Event) -> None:
    """The simple renderer: messages as lines; progress events are left to live displays."""
    if isinstance(event, WarningEvent):
        console.print(f"[yellow]warning:[/] {event.message}", markup=True, highlight=False)
    elif isinstance(event, Info):
        console.print(event.message, markup=False, highlight=False)


class EventRenderer:
    """Rich progress bars on stderr for the library's task events (TaskStarted/Progress/Finished),
    shared by every command that runs long library work. ``transient`` bars vanish when done;
    otherwise a finished task's bar stays, shown complete."""

    def __init__(self, quiet: bool = False, *, transient: bool = True) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self.quiet = quiet
        self.transient = transient
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[metrics]}"),
            console=console,
            transient=transient,
            disable=quiet,
        )
        self.tasks: dict[str, Any] = {}
        # When stderr is not a terminal (CI logs, nohup, a pipe) Rich draws no bars: say where a
        # long task is every PLAIN_EVERY seconds instead, so the log shows it is alive.
        self.plain = not console.is_terminal and not quiet
        self._last_plain: dict[str, float] = {}

    def __enter__(self) -> EventRenderer:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def _task(self, name: str) -> Any:
        """The Rich task of ``name``, by id: after a transient task is removed, ids are no list positions."""
        task_id = self.tasks[name]
        return next(t for t in self.progress.tasks if t.id == task_id)

    def __call__(self, event: Any) -> None:
        from cleanerclip_tool.events import Info, TaskFinished, TaskProgress, TaskStarted, WarningEvent

        if isinstance(event, TaskStarted):
            self.tasks[event.task] = self.progress.add_task(
                event.description or event.task, total=event.total, metrics=""
            )
            self._last_plain[event.task] = time.monotonic()
        elif isinstance(event, TaskProgress) and event.task in self.tasks:
            metrics = metrics_text(event.metrics)
            self.progress.update(self.tasks[event.task], completed=event.completed, total=event.total, metrics=metrics)
            if self.plain and time.monotonic() - self._last_plain.get(event.task, 0.0) >= PLAIN_EVERY:
                self._last_plain[event.task] = time.monotonic()
                task = self._task(event.task)
                total = f"/{event.total}" if event.total else ""
                line = f"  {task.description}: {event.completed}{total}  {metrics}".rstrip()
                console.print(line, markup=False, highlight=False)
        elif isinstance(event, TaskFinished) and event.task in self.tasks:
            if self.transient:
                self.progress.remove_task(self.tasks.pop(event.task))
            else:
                task = self._task(event.task)
                self.progress.update(self.tasks[event.task], completed=task.total or task.completed)
        elif isinstance(event, WarningEvent):
            console.print(f"[yellow]warning:[/] {event.message}", markup=True, highlight=False)
        elif isinstance(event, Info) and not self.quiet:
            console.print(event.message, markup=False)


class RunRenderer(EventRenderer):
    """Task bars plus a step bar for engine runs (pretraining, the demo's purifications) in ONE live area.

    Rich allows a single live display at a time, so a command whose library call reports both
    task events (drawing, poisoning, scanning) and training events renders them all here.
    """

    def __init__(self, quiet: bool = False, *, transient: bool = True) -> None:
        super().__init__(quiet=quiet, transient=transient)
        self.train: Any = None
        self._last_line = 0.0  # plain step lines when stderr is not a terminal (CI logs, pipes)

    def __call__(self, event: Any) -> None:
        from cleanerclip_tool.engine.events import EvalDone, RunFinished, RunStarted, StepDone

        if isinstance(event, RunStarted):
            self.train = self.progress.add_task(
                f"  {event.method} steps", total=event.epochs * event.steps_per_epoch, metrics=""
            )
        elif isinstance(event, StepDone) and self.train is not None:
            metrics = f"ep {event.epoch}  {losses_text(event.losses)}  {rate_text(event.samples_per_second)}"
            self.progress.update(self.train, completed=event.step, metrics=metrics)
            if self.plain and time.monotonic() - self._last_line > PLAIN_EVERY:
                self._last_line = time.monotonic()
                console.print(f"  {step_text(event)}", markup=False)
        elif isinstance(event, EvalDone):
            if not self.quiet:
                console.print(f"  eval {eval_text(event)}", markup=False, highlight=False)
        elif isinstance(event, RunFinished):
            if self.train is not None:
                if self.transient:
                    self.progress.remove_task(self.train)
                self.train = None
        else:
            super().__call__(event)
