"""Data pane: a caption CSV (or a folder holding ``captions.csv``), previewed and validated before training."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Input, Label, Static

from cleanerclip_tool.tui.messages import DataLoaded, WorkFailed, describe_error
from cleanerclip_tool.tui.workers import WorkerPane

PREVIEW_ROWS = 12


def describe_image(path) -> str:
    """``WxH MODE`` from the image header (no full decode: the preview must stay instant)."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            return f"{img.width}x{img.height} {img.mode}"
    except Exception as exc:  # a broken image is itself worth showing
        return f"unreadable ({type(exc).__name__})"


class DataScreen(WorkerPane, Vertical):
    PANE_KEYS: ClassVar[tuple[tuple[str, str, str], ...]] = (("ctrl+r", "load", "Load data"),)

    def compose(self) -> ComposeResult:
        yield Label("DATA: a captions CSV (filepath,title) or a folder that holds captions.csv", classes="hint")
        with Horizontal(classes="row"):
            yield Input(placeholder="path/to/captions.csv", id="data-path", compact=True)
            yield Button("Load", id="load", compact=True, variant="primary")
        yield Static("no data loaded yet", id="data-summary", classes="status")
        yield DataTable(id="preview", cursor_type="row", zebra_stripes=True)
        yield DataTable(id="skipped", cursor_type="row")

    def on_mount(self) -> None:
        preview = self.query_one("#preview", DataTable)
        preview.add_columns("line", "image", "size / mode", "caption")
        preview.border_title = "preview"
        skipped = self.query_one("#skipped", DataTable)
        skipped.add_columns("line", "path", "reason")
        skipped.border_title = "skipped rows"
        skipped.display = False

    def action_load(self) -> None:
        spec = self.query_one("#data-path", Input).value.strip()
        if not spec:
            self.set_summary("type a CSV or folder path first", error=True)
            return
        self.set_summary(f"reading {spec} ...")
        self.load_worker(spec)

    @on(Button.Pressed, "#load")
    @on(Input.Submitted, "#data-path")
    def _load_pressed(self) -> None:
        self.action_load()

    # A failure is reported by WorkerPane.on_worker_state_changed as WorkFailed("load data").
    @work(thread=True, exclusive=True, group="data", name="load data", exit_on_error=False)
    def load_worker(self, spec: str) -> None:
        from cleanerclip_tool.data.captions import load_caption_table

        table = load_caption_table(spec)
        sizes = [describe_image(row.image) for row in table.rows[:PREVIEW_ROWS]]
        self.post_message(DataLoaded(table, sizes))

    def on_work_failed(self, message: WorkFailed) -> None:
        self.set_summary(f"{message.what} failed: {describe_error(message.error)}", error=True)

    def on_data_loaded(self, message: DataLoaded) -> None:
        table = message.table
        preview = self.query_one("#preview", DataTable)
        preview.clear()
        for row, size in zip(table.rows[:PREVIEW_ROWS], message.sizes, strict=False):
            preview.add_row(str(row.line), row.relpath, size, row.caption)
        skipped = self.query_one("#skipped", DataTable)
        skipped.clear()
        for bad in table.skipped:
            skipped.add_row(str(bad.line), bad.path, bad.reason)
        skipped.display = bool(table.skipped)
        self.set_summary(
            f"{len(table.rows)} usable rows, {len(table.skipped)} skipped — {table.csv_path}; next: Configure (F3)",
            error=not table.rows,
        )

    def set_summary(self, text: str, error: bool = False) -> None:
        summary = self.query_one("#data-summary", Static)
        summary.update(text)
        summary.set_class(error, "error")
