"""Model pane: type, pick or recall a MODEL spec, resolve it (or fetch it from the Hub), show its card."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DirectoryTree, Input, Label, OptionList, ProgressBar, Static

from cleanerclip_tool.tui.messages import LibraryEvent, ModelResolved, WorkFailed, describe_error
from cleanerclip_tool.tui.state import read_recent, remember_recent
from cleanerclip_tool.tui.workers import WorkerPane, forward_events, still_wanted


def card_text(card) -> str:
    """The card fields a user checks before purifying: what it is, how big, where from, which bytes."""
    lines = [
        f"architecture  {card.architecture}",
        f"parameters    {card.parameters:,}",
        f"source        {card.source}  ({card.kind})",
        f"path          {card.path or '-'}",
        f"sha256        {card.sha256 or '-'}",
    ]
    if card.revision:
        lines.append(f"revision      {card.revision}")
    if card.history:
        # save_model records {"saved", "action", ...}: "toyworld-pretrain", or "purify" with its method.
        last = card.history[-1]
        what = " ".join(str(last[k]) for k in ("action", "method") if last.get(k)) or "?"
        lines.append(f"history       {len(card.history)} step(s), last: {what}")
    return "\n".join(lines)


class ModelScreen(WorkerPane, Vertical):
    """Resolving loads the model in a worker thread; the pane only shows what came back."""

    # (key, action, footer label): bound at app level (see app.py) so they work wherever focus is.
    PANE_KEYS: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("ctrl+r", "resolve", "Resolve"),
        ("ctrl+f", "fetch", "Fetch (Hub)"),
        ("ctrl+o", "browse", "Browse files"),
        ("ctrl+x", "cancel", "Cancel"),  # in the footer only while resolving or fetching
    )

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.working = False

    def compose(self) -> ComposeResult:
        yield Label("MODEL spec: a file or folder, hf-hub:ORG/NAME, ARCH:TAG or toy:NAME", classes="hint")
        with Horizontal(classes="row"):
            yield Input(placeholder="toy:clean", id="model-spec", compact=True)
            yield Button("Resolve", id="resolve", compact=True, variant="primary")
            yield Button("Fetch", id="fetch", compact=True)
        yield ProgressBar(total=None, show_eta=False, id="model-progress")
        with Horizontal(id="model-body"):
            yield OptionList(id="recent")
            yield Static("no model resolved yet", id="card")
        yield DirectoryTree(Path.cwd(), id="picker")
        yield Static("", id="model-status", classes="status")

    def on_mount(self) -> None:
        self.query_one("#model-progress").display = False
        self.query_one("#picker").display = False
        self.refresh_recent()

    def refresh_recent(self) -> None:
        from cleanerclip_tool.toyworld.registry import list_toy_models

        specs = read_recent()
        specs += [f"toy:{name}" for name in list_toy_models() if f"toy:{name}" not in specs]
        recent = self.query_one("#recent", OptionList)
        recent.clear_options()
        recent.add_options(specs)
        recent.border_title = "recent / toy"

    # --- actions -------------------------------------------------------------------------------
    def action_resolve(self) -> None:
        spec = self.query_one("#model-spec", Input).value.strip()
        if not spec:
            self.set_status("type a MODEL spec first", error=True)
            return
        self.busy(f"resolving {spec} ...")
        self.resolve_worker(spec)

    def action_fetch(self) -> None:
        spec = self.query_one("#model-spec", Input).value.strip()
        if not spec.startswith("hf-hub:"):
            self.set_status("Fetch downloads hf-hub:ORG/NAME specs; others resolve locally", error=True)
            return
        self.busy(f"fetching {spec} from the Hugging Face Hub ...")
        self.fetch_worker(spec)

    def action_cancel(self) -> None:
        """Cancel resolving / fetching: the result is dropped; a download stops at its next progress event."""
        if self.cancel_workers("model"):
            self.idle()
            self.set_status("cancelled")

    def check_pane_action(self, action: str) -> bool:
        return action != "cancel" or self.working

    def action_browse(self) -> None:
        picker = self.query_one("#picker", DirectoryTree)
        picker.display = not picker.display
        if picker.display:
            picker.focus()

    # --- workers (threads: post messages only) -------------------------------------------------
    # A failure is reported by WorkerPane.on_worker_state_changed as WorkFailed(<worker name>).
    @work(thread=True, exclusive=True, group="model", name="resolve", exit_on_error=False)
    def resolve_worker(self, spec: str) -> None:
        from cleanerclip_tool.models.load import load_model

        # Loading is one library call: a cancel drops its events and its result (a half-loaded
        # model is never stopped midway), and the pane is free at once.
        loaded = load_model(spec, on_event=forward_events(self, stop_on_cancel=False))
        if still_wanted():
            self.post_message(ModelResolved(spec, loaded))

    @work(thread=True, exclusive=True, group="model", name="fetch", exit_on_error=False)
    def fetch_worker(self, spec: str) -> None:
        from cleanerclip_tool.hub import fetch_model

        fetch_model(spec, on_event=forward_events(self))
        if still_wanted():
            self.resolve_worker(spec)

    # --- handlers ------------------------------------------------------------------------------
    @on(Button.Pressed, "#resolve")
    @on(Input.Submitted, "#model-spec")
    def _resolve_pressed(self) -> None:
        self.action_resolve()

    @on(Button.Pressed, "#fetch")
    def _fetch_pressed(self) -> None:
        self.action_fetch()

    @on(OptionList.OptionSelected, "#recent")
    def _recent_chosen(self, event: OptionList.OptionSelected) -> None:
        self.query_one("#model-spec", Input).value = str(event.option.prompt)
        self.action_resolve()

    @on(DirectoryTree.FileSelected, "#picker")
    def _file_chosen(self, event: DirectoryTree.FileSelected) -> None:
        self.query_one("#model-spec", Input).value = str(event.path)
        self.query_one("#picker").display = False
        self.query_one("#model-spec").focus()

    def on_library_event(self, message: LibraryEvent) -> None:
        text = getattr(message.event, "message", None) or getattr(message.event, "description", None)
        # An event still queued when the work was cancelled or finished must not overwrite that status.
        if text and self.working:
            self.set_status(str(text))

    def on_work_failed(self, message: WorkFailed) -> None:
        self.idle()
        self.set_status(f"{message.what} failed: {describe_error(message.error)}", error=True)

    def on_model_resolved(self, message: ModelResolved) -> None:
        self.idle()
        self.query_one("#card", Static).update(card_text(message.loaded.card))
        self.set_status(f"resolved {message.spec}; next: Data (F2)")
        remember_recent(message.spec)
        self.refresh_recent()
        # bubbles on to the app, which stores it in the session

    # --- helpers -------------------------------------------------------------------------------
    def busy(self, text: str) -> None:
        self.query_one("#model-progress").display = True
        self.set_status(text)
        self.working = True
        self.app.refresh_bindings()

    def idle(self) -> None:
        self.query_one("#model-progress").display = False
        self.working = False
        self.app.refresh_bindings()

    def set_status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#model-status", Static)
        status.update(text)
        status.set_class(error, "error")
