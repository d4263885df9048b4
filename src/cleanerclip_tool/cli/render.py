"""Rendering library events on the stderr console (never on stdout, which --json owns)."""

from __future__ import annotations

from typing import Any

from cleanerclip_tool.cli.common import console
from cleanerclip_tool.events import Event, Info, Warning


def print_event(event: Event) -> None:
    """The simple renderer: messages as lines; progress events are left to live displays."""
    if isinstance(event, Warning):
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

    def __enter__(self) -> EventRenderer:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def __call__(self, event: Any) -> None:
        from cleanerclip_tool.events import Info, TaskFinished, TaskProgress, TaskStarted, Warning

        if isinstance(event, TaskStarted):
            self.tasks[event.task] = self.progress.add_task(
                event.description or event.task, total=event.total, metrics=""
            )
        elif isinstance(event, TaskProgress) and event.task in self.tasks:
            metrics = "  ".join(f"{k} {v}" for k, v in event.metrics.items())
            self.progress.update(self.tasks[event.task], completed=event.completed, total=event.total, metrics=metrics)
        elif isinstance(event, TaskFinished) and event.task in self.tasks:
            if self.transient:
                self.progress.remove_task(self.tasks.pop(event.task))
            else:
                task = self.progress.tasks[self.tasks[event.task]]
                self.progress.update(self.tasks[event.task], completed=task.total or task.completed)
        elif isinstance(event, Warning):
            console.print(f"[yellow]warning:[/] {event.message}", markup=True, highlight=False)
        elif isinstance(event, Info) and not self.quiet:
            console.print(event.message, markup=False)
