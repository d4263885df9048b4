"""The one question the app asks: quit while a run is training?"""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid
from textual.screen import ModalScreen
from textual.widgets import Button, Label


class ConfirmQuit(ModalScreen[bool]):
    """Dismisses with True to stop the run and quit, False to keep training."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Stop and quit"),
        Binding("n,escape", "answer(False)", "Keep training"),
    ]

    def compose(self) -> ComposeResult:
        with Grid(id="confirm"):
            yield Label("A run is training. Stop it after this step (keeping its checkpoint) and quit?", id="question")
            yield Button("Stop and quit (y)", variant="error", id="yes", compact=True)
            yield Button("Keep training (n)", variant="primary", id="no", compact=True)

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")
