"""The app shell: five panes in tabs, the shared session, screen keys and palette entries.

Thin on purpose: each pane owns its actions and workers; the app only stores what panes report
(model, data, results) and routes Start from Configure to Run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Header, TabbedContent, TabPane

from cleanerclip_tool.tui.messages import DataLoaded, ModelResolved, RunDone, ScanDone, StartRun
from cleanerclip_tool.tui.screens import ConfigureScreen, DataScreen, ModelScreen, RunScreen, ScanScreen
from cleanerclip_tool.tui.state import Session
from cleanerclip_tool.tui.widgets.modal import ConfirmQuit

PANES = (
    ("model", "Model", "f1", "Resolve, fetch or pick the model to purify"),
    ("data", "Data", "f2", "Load and validate the caption data"),
    ("configure", "Configure", "f3", "Set the purification parameters"),
    ("run", "Run", "f4", "Watch, stop or resume the purification"),
    ("scan", "Scan", "f5", "Scan the model before and after purification"),
)


class CleanerClipApp(App[None]):
    TITLE = "cleanerclip"
    SUB_TITLE = "remove backdoors from CLIP models"
    CSS_PATH = "app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        *[Binding(key, f"show('{pane}')", title) for pane, title, key, _ in PANES],
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, model: str | None = None, data: str | None = None) -> None:
        super().__init__()
        self.session = Session()
        self._initial = (model, data)
        self._quit_after_stop = False

    def compose(self) -> ComposeResult:
        yield Header()
        with TabbedContent(id="panes"):
            with TabPane("Model", id="model"):
                yield ModelScreen()
            with TabPane("Data", id="data"):
                yield DataScreen()
            with TabPane("Configure", id="configure"):
                yield ConfigureScreen()
            with TabPane("Run", id="run"):
                yield RunScreen()
            with TabPane("Scan", id="scan"):
                yield ScanScreen()
        yield Footer()

    def on_mount(self) -> None:
        model, data = self._initial
        if model:
            self.query_one("#model-spec").value = model
        if data:
            self.query_one("#data-path").value = data
        self.focus_pane("model")

    # --- navigation ----------------------------------------------------------------------------
    def action_show(self, pane: str) -> None:
        # Drop focus first: focus left inside the old pane makes TabbedContent switch back to it.
        self.set_focus(None)
        self.query_one(TabbedContent).active = pane
        self.focus_pane(pane)

    def focus_pane(self, pane: str) -> None:
        """Focus the pane's first control so its keys (shown in the footer) are live at once.

        Deferred until the pane is shown: hidden widgets cannot take focus, and focus left inside the
        old pane would make TabbedContent switch back to it.
        """

        def first() -> None:
            try:
                tab = self.query_one(TabbedContent).get_pane(pane)
            except NoMatches:  # a modal is on top, or the app is closing
                return
            for widget in tab.query("*"):
                if widget.focusable:
                    widget.focus()
                    return

        self.call_after_refresh(first)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for pane, title, key, help_text in PANES:
            yield SystemCommand(f"{title} screen ({key.upper()})", help_text, lambda p=pane: self.action_show(p))

    # --- what the panes report ------------------------------------------------------------------
    def on_model_resolved(self, message: ModelResolved) -> None:
        self.session.model_spec = message.spec
        self.session.loaded = message.loaded
        self.session.card = message.loaded.card
        self.session.purified_dir = None
        self.session.scans = {}
        configure = self.query_one(ConfigureScreen)
        configure.suggest_out(message.spec)
        configure.revalidate()

    def on_data_loaded(self, message: DataLoaded) -> None:
        self.session.table = message.table
        self.query_one(ConfigureScreen).revalidate()

    def on_start_run(self, message: StartRun) -> None:
        if self.query_one(RunScreen).start(message.config, resume=message.resume):
            self.action_show("run")

    def on_run_done(self, message: RunDone) -> None:
        if message.result.model_dir is not None:
            self.session.purified_dir = Path(message.result.model_dir)
        if self._quit_after_stop:
            self.exit()

    def on_scan_done(self, message: ScanDone) -> None:
        self.session.scans = message.reports

    # --- quitting --------------------------------------------------------------------------------
    async def action_quit(self) -> None:
        run = self.query_one(RunScreen)
        if not run.running:
            self.exit()
            return

        def answered(stop: bool | None) -> None:
            if stop:
                self._quit_after_stop = True
                run.action_stop()

        self.push_screen(ConfirmQuit(), answered)
