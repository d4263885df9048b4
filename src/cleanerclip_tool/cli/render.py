"""Rendering library events on the stderr console (never on stdout, which --json owns)."""

from __future__ import annotations

from cleanerclip_tool.cli.common import console
from cleanerclip_tool.events import Event, Info, Warning


def print_event(event: Event) -> None:
    """The simple renderer: messages as lines; progress events are left to live displays."""
    if isinstance(event, Warning):
        console.print(f"[yellow]warning:[/] {event.message}", markup=True, highlight=False)
    elif isinstance(event, Info):
        console.print(event.message, markup=False, highlight=False)
