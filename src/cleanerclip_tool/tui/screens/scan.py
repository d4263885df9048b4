"""Scan pane: Top-k BA / ASR of the original model and of the purified one, side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, SelectionList, Static

from cleanerclip_tool.tui.detect import DetectDone, detect_summary
from cleanerclip_tool.tui.messages import LibraryEvent, ScanDone, WorkFailed, describe_error
from cleanerclip_tool.tui.workers import WorkerPane, forward_events, still_wanted

TOPK = (1, 5)
DEFAULT_ATTACKS = ("badnet",)


COLUMNS = ("attack", "model", "toward", *(f"{metric}@{k}" for metric in ("BA", "ASR") for k in TOPK))


def comparison_rows(reports: dict[str, dict[str, Any]]) -> list[tuple[str, ...]]:
    """Per attack: a row for the original model, one for the purified model and their change, in %.

    Stacked rows rather than before/after columns: seven narrow columns fit an 80-column terminal,
    and the two numbers to compare sit one above the other. '-' marks a model that was not scanned.
    """
    attacks: list[str] = []
    for report in reports.values():
        attacks += [r["attack"] for r in report["results"] if r["attack"] not in attacks]
    metrics = [(metric, str(k)) for metric in ("ba", "asr") for k in TOPK]
    rows = []
    for attack in attacks:
        found = {
            which: next((r for r in reports[which]["results"] if r["attack"] == attack), None)
            if which in reports
            else None
            for which in ("before", "after")
        }
        toward = str(next((r.get("asr_target") or r.get("target") for r in found.values() if r), "") or "-")
        for which, row in found.items():
            cells = [f"{100 * row[m][k]:.1f}" if row and row[m][k] is not None else "-" for m, k in metrics]
            rows.append((attack, which, toward, *cells))
        before, after = found["before"], found["after"]
        if before and after:
            # A rate is None where it is undefined (no triggered image, or k beyond the classes).
            change = [
                "-" if None in (after[m][k], before[m][k]) else f"{100 * (after[m][k] - before[m][k]):+.1f}"
                for m, k in metrics
            ]
            rows.append((attack, "change", toward, *change))
    return rows


def short_path(path: str, parts: int = 3) -> str:
    """The last ``parts`` components of a long path: the status line has three short lines."""
    pieces = Path(path).parts
    return path if len(pieces) <= parts else str(Path("…", *pieces[-parts:]))


class ScanScreen(WorkerPane, Vertical):
    PANE_KEYS: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("ctrl+r", "scan", "Run scan"),
        ("ctrl+x", "cancel", "Cancel"),  # in the footer only while a scan runs
    )

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.working = False

    def compose(self) -> ComposeResult:
        from cleanerclip_tool.attacks import list_triggers

        with Horizontal(id="scan-top"):
            yield SelectionList[str](*[(name, name, name in DEFAULT_ATTACKS) for name in list_triggers()], id="attacks")
            with Vertical(id="scan-form"):
                yield Label("eval ImageFolder (empty: toy test split)", classes="hint")
                yield Input(placeholder="path/to/imagefolder", id="eval-path", compact=True)
                with Horizontal(classes="row"):
                    yield Label("limit images", classes="field-label")
                    yield Input("200", id="scan-limit", compact=True)
                with Horizontal(classes="row"):
                    yield Button("Scan", id="run-scan", variant="primary", compact=True)
                    yield Button("Detect", id="run-detect", compact=True)  # trigger inversion: any trigger?
                yield Static("", id="scan-status", classes="status")
        yield DataTable(id="scan-table", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#attacks").border_title = "attacks"
        table = self.query_one("#scan-table", DataTable)
        table.add_columns(*COLUMNS)
        table.border_title = "Top-k BA / ASR in %: before = original, after = purified"

    def action_scan(self) -> None:
        session = self.app.session
        if session.model_spec is None:
            self.set_status("resolve a model first (F1)", error=True)
            return
        attacks = list(self.query_one("#attacks", SelectionList).selected)
        if not attacks:
            self.set_status("choose at least one attack", error=True)
            return
        limit_text = self.query_one("#scan-limit", Input).value.strip()
        if limit_text and not (limit_text.isdigit() and int(limit_text) > 0):
            self.set_status("limit must be a positive whole number (or empty for all)", error=True)
            return
        models = {"before": session.model_spec}
        if session.purified_dir is not None:
            models["after"] = str(session.purified_dir)
        eval_path = self.query_one("#eval-path", Input).value.strip() or None
        self.set_status(f"scanning {', '.join(models)} with {', '.join(attacks)} ...")
        self.set_working(True)
        self.scan_worker(models, attacks, eval_path, int(limit_text) if limit_text else None)

    def action_cancel(self) -> None:
        """Stop the scan or the trigger inversion at its next event; nothing of it is shown."""
        for group in ("scan", "detect"):
            if self.cancel_workers(group):
                self.set_working(False)
                self.set_status(f"{group} cancelled")

    def check_pane_action(self, action: str) -> bool:
        return action != "cancel" or self.working

    def set_working(self, working: bool) -> None:
        self.working = working
        self.app.refresh_bindings()

    @on(Button.Pressed, "#run-scan")
    @on(Input.Submitted)
    def _scan_pressed(self) -> None:
        self.action_scan()

    @on(Button.Pressed, "#run-detect")
    def _detect_pressed(self) -> None:
        session = self.app.session
        if session.model_spec is None:
            self.set_status("resolve a model first (F1)", error=True)
            return
        models = {"before": session.model_spec}
        if session.purified_dir is not None:
            models["after"] = str(session.purified_dir)
        self.set_working(True)
        self.set_status(f"inverting triggers of {', '.join(models)} ...")
        self.detect_worker(models, self.query_one("#eval-path", Input).value.strip() or None)

    # Failures of both workers are reported by WorkerPane.on_worker_state_changed as WorkFailed.
    @work(thread=True, exclusive=True, group="detect", name="detect", exit_on_error=False)
    def detect_worker(self, models: dict[str, str], eval_path: str | None) -> None:
        from cleanerclip_tool.app.detect import detect_models

        reports = detect_models(models, eval_path, forward_events(self))
        if still_wanted():
            self.post_message(DetectDone(reports))

    def on_detect_done(self, message: DetectDone) -> None:
        self.set_working(False)
        self.set_status(detect_summary(message.reports))

    @work(thread=True, exclusive=True, group="scan", name="scan", exit_on_error=False)
    def scan_worker(self, models: dict[str, str], attacks: list[str], eval_path: str | None, limit: int | None) -> None:
        """The same calls as ``cleanerclip scan``; the original is reloaded because purify trains in place."""
        from cleanerclip_tool.app.scan import ScanConfig, run_scan

        emit = forward_events(self)  # after Cancel, the library call stops at its next event

        # The pane has no device or workers field: cpu and in-process image work, as it always scanned.
        config = ScanConfig(
            attacks=tuple(attacks),
            topk=TOPK,
            limit=limit,
            workers=0,
            device="cpu",
            eval_data=Path(eval_path) if eval_path is not None else None,
        )
        reports: dict[str, dict[str, Any]] = {}
        for which, spec in models.items():
            reports[which] = run_scan(spec, config, on_event=emit).to_dict()
            if not still_wanted():
                return
        self.post_message(ScanDone(reports))

    def on_library_event(self, message: LibraryEvent) -> None:
        event = message.event
        text = getattr(event, "message", None) or getattr(event, "description", None)
        # An event still queued when the work was cancelled or finished must not overwrite that status.
        if text and self.working:
            self.set_status(str(text))

    def on_work_failed(self, message: WorkFailed) -> None:
        self.set_working(False)
        self.set_status(f"{message.what} failed: {describe_error(message.error)}", error=True)

    def on_scan_done(self, message: ScanDone) -> None:
        self.set_working(False)
        table = self.query_one("#scan-table", DataTable)
        table.clear()
        for row in comparison_rows(message.reports):
            table.add_row(*row)
        first = next(iter(message.reports.values()))
        self.set_status(
            f"scanned {' and '.join(message.reports)} on {short_path(first['eval_data'])} "
            f"({first['classes']} classes); {first['asr_convention_note']}"
        )

    def set_status(self, text: str, error: bool = False) -> None:
        status = self.query_one("#scan-status", Static)
        status.update(text)
        status.set_class(error, "error")
