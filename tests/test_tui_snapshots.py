"""TUI snapshots (pytest-textual-snapshot) of the main panes at 80x24.

Regenerate after an intended layout change with ``pytest tests/test_tui_snapshots.py --snapshot-update``
and look at the SVGs before committing them. The app is pinned to what varies between machines: an
empty cache (no recent models), a fixed toy-model list and a fixed working directory.
"""

from __future__ import annotations

import pytest

from cleanerclip_tool.tui.app import CleanerClipApp

SIZE = (80, 24)


@pytest.fixture(autouse=True)
def _fixed_machine(tmp_path, monkeypatch) -> None:
    import cleanerclip_tool.toyworld.registry as registry

    (tmp_path / "cache").mkdir()
    monkeypatch.setenv("CLEANERCLIP_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    # Toy models may be added to the registry; the snapshot is about the layout, not that list.
    monkeypatch.setattr(registry, "list_toy_models", lambda: ["badnet", "clean"])


async def steady_cursor(pilot) -> None:
    """A blinking cursor is drawn or not depending on when the picture is taken: keep it drawn."""
    from textual.widgets import Input

    await pilot.pause()
    for box in pilot.app.query(Input):
        box.cursor_blink = False
    await pilot.pause()


def test_model_pane_with_nothing_resolved(snap_compare) -> None:
    assert snap_compare(CleanerClipApp(), terminal_size=SIZE, run_before=steady_cursor)


def test_configure_pane_with_the_library_defaults(snap_compare) -> None:
    assert snap_compare(CleanerClipApp(), press=["f3"], terminal_size=SIZE, run_before=steady_cursor)


def test_scan_pane_before_any_scan(snap_compare) -> None:
    assert snap_compare(CleanerClipApp(), press=["f5"], terminal_size=SIZE, run_before=steady_cursor)
