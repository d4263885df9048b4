"""TUI workers: one error handler for every pane, and Cancel for the scan and resolve workers (Pilot)."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from cleanerclip_tool.events import Info


@pytest.fixture(autouse=True)
def _quiet_machine(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CLEANERCLIP_CACHE", str(tmp_path))
    monkeypatch.chdir(tmp_path)


async def wait_for(pilot, done, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


def text_of(app, selector: str) -> str:
    return str(app.query_one(selector).render())


def test_a_failing_worker_is_reported_on_its_pane(monkeypatch) -> None:
    from cleanerclip_tool.errors import BadInputError
    from cleanerclip_tool.models import load
    from cleanerclip_tool.tui.app import CleanerClipApp

    def broken(spec, **_kwargs):
        raise BadInputError("no such file", where=spec)

    monkeypatch.setattr(load, "load_model", broken)

    async def drive() -> None:
        app = CleanerClipApp()
        async with app.run_test(size=(80, 24)) as pilot:
            app.query_one("#model-spec").value = "nowhere.pt"
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: "failed" in text_of(app, "#model-status"), "the failure")
            assert text_of(app, "#model-status") == "resolve failed: nowhere.pt: no such file"
            assert app.is_running and app.session.loaded is None

    asyncio.run(drive())


def test_cancel_stops_a_scan_at_its_next_event(monkeypatch) -> None:
    from cleanerclip_tool.models import load
    from cleanerclip_tool.tui.app import CleanerClipApp
    from cleanerclip_tool.tui.screens.scan import ScanScreen

    started, ended = threading.Event(), threading.Event()

    def slow_load(spec, on_event, **_kwargs):  # reports progress until it is told to stop
        started.set()
        try:
            for i in range(400):
                on_event(Info(f"loading {i}"))
                time.sleep(0.025)
        finally:
            ended.set()
        raise AssertionError("the cancelled scan was not stopped")

    monkeypatch.setattr(load, "load_model", slow_load)

    async def drive() -> None:
        app = CleanerClipApp()
        async with app.run_test(size=(80, 24)) as pilot:
            app.session.model_spec = "toy:slow"
            await pilot.press("f5")
            await pilot.pause()
            pane = app.query_one(ScanScreen)
            assert not pane.check_pane_action("cancel")  # no Cancel key while nothing runs
            await pilot.press("ctrl+r")
            await wait_for(pilot, started.is_set, "the scan to start")
            assert pane.check_pane_action("cancel")
            await pilot.press("ctrl+x")
            await pilot.pause()
            assert text_of(app, "#scan-status") == "scan cancelled"
            await wait_for(pilot, ended.is_set, "the library call to stop")
            await pilot.pause(0.2)
            assert text_of(app, "#scan-status") == "scan cancelled"  # no late event, no failure shown
            assert app.session.scans == {} and not pane.check_pane_action("cancel")

    asyncio.run(drive())


def test_cancel_drops_a_model_still_resolving(monkeypatch) -> None:
    from cleanerclip_tool.models import load
    from cleanerclip_tool.tui.app import CleanerClipApp
    from cleanerclip_tool.tui.screens.model import ModelScreen

    started, release, returned = threading.Event(), threading.Event(), threading.Event()

    def blocking_load(spec, on_event, **_kwargs):
        started.set()
        release.wait(10)
        on_event(Info("late message"))
        returned.set()
        return SimpleNamespace(card=None)

    monkeypatch.setattr(load, "load_model", blocking_load)

    async def drive() -> None:
        app = CleanerClipApp()
        async with app.run_test(size=(80, 24)) as pilot:
            app.query_one("#model-spec").value = "toy:slow"
            await pilot.press("ctrl+r")
            await wait_for(pilot, started.is_set, "resolving to start")
            pane = app.query_one(ModelScreen)
            assert pane.check_pane_action("cancel")
            await pilot.press("ctrl+x")
            await pilot.pause()
            assert text_of(app, "#model-status") == "cancelled"
            assert not app.query_one("#model-progress").display
            release.set()
            await wait_for(pilot, returned.is_set, "the load to return")
            await pilot.pause(0.2)
            assert app.session.loaded is None
            assert text_of(app, "#model-status") == "cancelled"

    asyncio.run(drive())


def test_ctrl_x_still_cuts_in_a_field_when_nothing_runs() -> None:
    from cleanerclip_tool.tui.app import CleanerClipApp

    async def drive() -> None:
        app = CleanerClipApp()
        async with app.run_test(size=(80, 24)) as pilot:
            box = app.query_one("#model-spec")
            box.value = "toy:clean"
            box.focus()
            box.select_all()
            await pilot.press("ctrl+x")
            await pilot.pause()
            assert box.value == ""
            assert str(app.query_one("#model-status").render()) == ""

    asyncio.run(drive())
