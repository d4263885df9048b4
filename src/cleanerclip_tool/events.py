"""Events the library emits instead of printing.

Long work (fetching, training, scanning) takes an ``on_event`` callback and calls it with these
small frozen dataclasses; the CLI renders them with Rich, the TUI forwards them as Textual
messages. Nothing here imports a UI library.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """Base class; every event can be rendered as ``str(event)``."""


@dataclass(frozen=True)
class Info(Event):
    """A plain message worth showing (what was picked, where things went)."""

    message: str


@dataclass(frozen=True)
class WarningEvent(Event):
    """Something the user should know that did not stop the job."""

    message: str


@dataclass(frozen=True)
class TaskStarted(Event):
    """A unit of work with an optional known total (files, steps, images)."""

    task: str
    total: int | None = None
    description: str = ""


@dataclass(frozen=True)
class TaskProgress(Event):
    """``completed`` units of ``task`` are done; ``metrics`` carries numbers to show beside it."""

    task: str
    completed: int
    total: int | None = None
    metrics: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TaskFinished(Event):
    task: str
    metrics: dict[str, Any] = field(default_factory=dict)


EventCallback = Callable[[Event], None]


def ignore_event(event: Event) -> None:
    """The default callback: drop the event."""
