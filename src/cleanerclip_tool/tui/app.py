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
PANE_CLASSES = {
    "model": ModelScreen,
    "data": DataScreen,
    "configure": ConfigureScreen,
    "run": RunScreen,
    "scan": ScanScreen,
}


def pane_bindings() -> list[Binding]:
    """Every pane's keys as app bindings, live only while that pane is shown (see ``check_action``).

    Bound on the panes themselves they only fired while focus was inside the pane (not on the tabs,
    not after a click on the header); at app level every key in the footer works wherever focus is.
    Several panes may share a key (ctrl+r runs the pane's main action); only the shown one answers.
    Cancel is a priority binding: while work runs it must win over a focused Input's ctrl+x (cut);
    while nothing runs the pane's ``check_pane_action`` says no and the key goes on to the Input.
    """
    return [
        Binding(key, f"pane('{pane}', '{action}')", label, id=f"{pane}.{action}", priority=action == "cancel")
        for pane, cls in PANE_CLASSES.items()
        for key, action, label in cls.PANE_KEYS
    ]


class CleanerClipApp(App[None]):
    TITLE = "cleanerclip"
    SUB_TITLE = "remove backdoors from CLIP models"
    CSS_PATH = "app.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        # The pane keys come first so they are never cut off at 80 columns; F1-F5 are written on the
        # tabs themselves (a footer with all of them would not fit), and are in the command palette.
        *pane_bindings(),
        *[Binding(key, f"show('{pane}')", title, show=False) for pane, title, key, _ in PANES],
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
            for pane, title, key, _ in PANES:
                with TabPane(f"{key.upper()} {title}", id=pane):
                    yield PANE_CLASSES[pane]()
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

    @property
    def active_pane(self) -> str:
        return str(self.query_one(TabbedContent).active)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Pane keys are hidden (and do nothing) unless their pane is the one shown."""
        if action == "pane":
            try:
                if parameters[0] != self.active_pane:
                    return False
                pane = self.query_one(PANE_CLASSES[str(parameters[0])])
            except NoMatches:  # not composed yet, or closing
                return False
            # A pane may hide a key while it means nothing (Cancel when nothing runs).
            check = getattr(pane, "check_pane_action", None)
            return True if check is None else check(str(parameters[1]))
        return True

    def action_pane(self, pane: str, action: str) -> None:
        """Run ``action_<action>`` of the shown pane, whichever widget has focus."""
        getattr(self.query_one(PANE_CLASSES[pane]), f"action_{action}")()

    def on_tabbed_content_tab_activated(self, _event: TabbedContent.TabActivated) -> None:
        # The footer shows the new pane's keys (a click on a tab does not go through action_show).
        self.refresh_bindings()

    def focus_pane(self, pane: str, tries: int = 10) -> None:
        """Focus the pane's first control, so typing goes to its first field.

        Deferred until the pane is shown: hidden widgets cannot take focus (and focus left inside the
        old pane would make TabbedContent switch back to it). Showing a pane can take more than one
        refresh, so it tries again a few times while the pane is still the one asked for.
        """

        def first() -> None:
            try:
                tab = self.query_one(TabbedContent).get_pane(pane)
                if self.active_pane != pane:  # the user moved on meanwhile
                    return
            except NoMatches:  # a modal is on top, or the app is closing
                return
            for widget in tab.query("*"):
                # Not the pane itself (Configure's scrolling form is focusable): Tab would then
                # reach the first field only on the second press.
                if widget.focusable and not isinstance(widget, tuple(PANE_CLASSES.values())):
                    widget.focus()
                    return
            if tries > 1:
                self.set_timer(0.05, lambda: self.focus_pane(pane, tries - 1))

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
            from cleanerclip_tool.app.recent import record_last_purified

            self.session.purified_dir = Path(message.result.model_dir)
            record_last_purified(self.session.purified_dir)
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
