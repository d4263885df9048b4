"""TUI, whole flow under Pilot: resolve a tiny model → load data → configure → one short epoch → scan.

Asserts on what the panes show (progress at the end, loss chart points, checkpoint line, the scan
table's numbers) and on the files the run writes (model folder with weights and card, the TOML).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from engine_fixtures import draw_caption_set, tiny_loaded
from PIL import Image

from cleanerclip_tool.tui.screens.scan import COLUMNS


def make_eval_folder(root: Path) -> Path:
    """Two plain-colour classes of 32x32 images and one template: enough for scan to compute BA / ASR."""
    for name, colour in (("red", (220, 40, 40)), ("blue", (40, 60, 220))):
        (root / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (32, 32), tuple(max(0, c - 20 * i) for c in colour)).save(root / name / f"{i}.png")
    (root / "templates.txt").write_text("a photo of a {}.\n")
    return root


async def wait_for(pilot, done: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    """Let workers run until ``done()``; fail with ``what`` (and the app's status lines) on timeout."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.1)


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector).render())


@pytest.fixture()
def world(tmp_path: Path) -> dict[str, Path]:
    from cleanerclip_tool.models.save import save_model

    loaded = tiny_loaded()
    return {
        "model": save_model(loaded.model, tmp_path / "model", loaded.card),
        "data": draw_caption_set(tmp_path / "data", n=16),
        "eval": make_eval_folder(tmp_path / "eval"),
        "out": tmp_path / "purified",
        "toml": tmp_path / "run.toml",
    }


def test_whole_flow_model_data_configure_run_scan(world: dict[str, Path], tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    from textual.widgets import DataTable, ProgressBar, TabbedContent

    from cleanerclip_tool.tui.app import CleanerClipApp
    from cleanerclip_tool.tui.widgets.losschart import LossChart

    async def drive() -> None:
        app = CleanerClipApp()
        async with app.run_test(size=(80, 24)) as pilot:
            # --- Model: type the folder, resolve with the pane key --------------------------------
            app.query_one("#model-spec").value = str(world["model"])
            await pilot.press("ctrl+r")
            await wait_for(
                pilot,
                lambda: app.session.loaded is not None or "failed" in text_of(app, "#model-status"),
                "the model to resolve",
            )
            assert app.session.loaded is not None, text_of(app, "#model-status")
            card = text_of(app, "#card")
            assert "parameters" in card and "sha256" in card and str(world["model"]) in card
            assert "next: Data (F2)" in text_of(app, "#model-status")

            # --- Data ------------------------------------------------------------------------------
            await pilot.press("f2")
            await pilot.pause()
            assert app.query_one(TabbedContent).active == "data"
            app.query_one("#data-path").value = str(world["data"])
            await pilot.press("ctrl+r")
            await wait_for(
                pilot,
                lambda: app.session.table is not None or "failed" in text_of(app, "#data-summary"),
                "the data to load",
            )
            assert "16 usable rows, 0 skipped" in text_of(app, "#data-summary")
            preview = app.query_one("#preview", DataTable)
            assert preview.row_count == 12
            assert preview.get_row_at(0)[2] == "32x32 RGB"

            # --- Configure: K, λ1, λ2, τ+, τ− and a tiny run; Save writes the TOML the CLI reads ---
            await pilot.press("f3")
            await pilot.pause()
            form = {
                "samples": "8",
                "lambda1": "0.5",
                "lambda2": "2.0",
                "tau_pos": "0.6",
                "tau_neg": "0.2",
                "epochs": "1",
                "batch_size": "8",
                "warmup": "1",
                "workers": "0",
                "device": "cpu",
                "out": str(world["out"]),
            }
            for name, value in form.items():
                app.query_one(f"#f-{name}").value = value
            app.query_one("#f-precision").value = "fp32"
            app.query_one("#toml-path").value = str(world["toml"])
            await pilot.pause()
            assert not app.query_one("#start").disabled, text_of(app, "#config-status")
            assert "ready" in text_of(app, "#config-status")
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "saved" in text_of(app, "#config-status")

            # --- Run: Start switches to the Run pane and trains one epoch ----------------------------
            await pilot.press("ctrl+t")
            await pilot.pause()
            assert app.query_one(TabbedContent).active == "run"
            run = app.query_one("RunScreen")
            await wait_for(pilot, lambda: not run.running, "the run to finish", timeout=120)
            progress = text_of(app, "#run-progress")
            assert progress.startswith("done: 2 steps"), progress
            # RunDone reaches the Run pane first and the app (which records the folder) after it
            await wait_for(pilot, lambda: app.session.purified_dir is not None, "the app to record the model")
            bar = app.query_one("#run-bar", ProgressBar)
            assert bar.total == 2 and bar.progress == 2
            chart = app.query_one(LossChart)
            assert {"cfa", "clip", "inmodal"} <= set(chart.series)
            assert [step for step, _ in chart.series["cfa"]] == [1, 2]
            assert re.fullmatch(r"checkpoints: 1 written; last at step 2: \S+\.pt", text_of(app, "#checkpoints"))
            assert app.session.purified_dir is not None

            # --- Scan: before (the original folder) and after (the purified folder) ----------------
            await pilot.press("f5")
            await pilot.pause()
            app.query_one("#eval-path").value = str(world["eval"])
            await pilot.press("ctrl+r")
            scan = app.query_one("#scan-table", DataTable)
            await wait_for(
                pilot, lambda: scan.row_count > 0 or "failed" in text_of(app, "#scan-status"), "the scan", timeout=90
            )
            rows = [tuple(str(c) for c in scan.get_row_at(i)) for i in range(scan.row_count)]
            assert [r[:2] for r in rows] == [("badnet", "before"), ("badnet", "after"), ("badnet", "change")]
            # Two classes: Top-5 is beyond them, so its rates are undefined ("-"); Top-1 is a percentage.
            top1 = [COLUMNS.index("BA@1"), COLUMNS.index("ASR@1")]
            for row in rows[:2]:
                assert all(0.0 <= float(row[i]) <= 100.0 for i in top1)
                assert all(cell == "-" for i, cell in enumerate(row) if i >= 3 and i not in top1)
            assert all(rows[2][i].startswith(("+", "-")) for i in top1)
            assert [str(c.label) for c in scan.columns.values()] == list(COLUMNS)
            assert "scanned before and after" in text_of(app, "#scan-status")
        return app

    app = asyncio.run(drive())
    purified = app.session.purified_dir
    assert purified is not None and purified.is_dir() and purified.is_relative_to(world["out"])
    assert (purified / "open_clip_model.safetensors").stat().st_size > 0
    assert (purified / "cleanerclip_card.json").is_file() and (purified / "README.md").is_file()
    toml = world["toml"].read_text()
    for line in (
        "samples = 8",
        "warmup = 1",
        "lambda1 = 0.5",
        "lambda2 = 2.0",
        "tau_pos = 0.6",
        "tau_neg = 0.2",
        'method = "cleanerclip"',
    ):
        assert line in toml, toml


def test_pane_keys_work_wherever_focus_is_and_the_app_resizes(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    from textual.widgets import TabbedContent

    from cleanerclip_tool.tui.app import CleanerClipApp

    async def drive() -> None:
        app = CleanerClipApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f3")
            await pilot.pause()
            keys = {b.binding.key: b.binding.description for b in app.screen.active_bindings.values() if b.binding.show}
            assert keys["ctrl+t"] == "Start" and keys["ctrl+s"] == "Save TOML" and "ctrl+r" not in keys
            # Focus moves after the pane is drawn: the first field, not the scrolling form around it.
            await wait_for(pilot, lambda: app.focused is not None, "focus in the Configure pane", timeout=10)
            assert app.focused.id == "f-method"
            app.query_one("#f-out").value = "somewhere"
            app.set_focus(None)  # focus outside the pane: the keys must still answer
            await pilot.pause()
            await pilot.press("ctrl+s")
            await pilot.pause()
            assert "saved" in text_of(app, "#config-status")
            app.query_one("Tabs").focus()  # focus on the tab strip
            await pilot.press("ctrl+l")
            await pilot.pause()
            assert "loaded" in text_of(app, "#config-status")
            # ctrl+r is Resolve on Model, Load on Data, Scan on Scan: only the shown pane answers.
            await pilot.press("f5")
            await pilot.pause()
            app.set_focus(None)
            await pilot.press("ctrl+r")
            await pilot.pause()
            assert "resolve a model first" in text_of(app, "#scan-status")
            assert text_of(app, "#model-status") == ""
            await pilot.press("f4")
            await pilot.press("ctrl+x")
            await pilot.pause()
            assert app.query_one(TabbedContent).active == "run"
            assert "nothing to stop" in "\n".join(line.text for line in app.query_one("#run-log").lines)

            for size in ((60, 20), (120, 40), (80, 24)):
                await pilot.resize_terminal(*size)
                await pilot.pause()
                assert app.size == size
                footer = app.query_one("Footer").region
                assert footer.bottom == size[1] and footer.width == size[0]
                assert app.query_one("#scan-table").region.right <= size[0]
        assert (tmp_path / "cleanerclip-tui.toml").is_file()

    asyncio.run(drive())
