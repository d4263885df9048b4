"""Long work is visible where no bar can be drawn: plain progress lines when stderr is not a terminal."""

from __future__ import annotations

import pytest

from cleanerclip_tool.events import TaskFinished, TaskProgress, TaskStarted


def test_task_progress_prints_plain_lines_off_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from cleanerclip_tool.cli import render

    monkeypatch.setattr(render, "PLAIN_EVERY", 0.0)
    with render.EventRenderer() as renderer:  # capsys: stderr is not a terminal
        assert renderer.plain
        renderer(TaskStarted("optimize-badclip", total=10, description="optimising the BadCLIP patch"))
        renderer(TaskProgress("optimize-badclip", 3, 10, {"loss": 0.5}))
        renderer(TaskFinished("optimize-badclip", {}))
    err = capsys.readouterr().err
    assert "optimising the BadCLIP patch: 3/10" in err and "loss" in err


def test_plain_lines_after_an_earlier_task_was_removed(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Task ids are no list positions once a finished (transient) task is gone: detect's load, then its search."""
    from cleanerclip_tool.cli import render

    monkeypatch.setattr(render, "PLAIN_EVERY", 0.0)
    with render.EventRenderer() as renderer:
        renderer(TaskStarted("detect-load", total=2, description="reading 2 images"))
        renderer(TaskFinished("detect-load", {}))
        renderer(TaskStarted("detect-model", total=10, description="inverting a trigger"))
        renderer(TaskProgress("detect-model", 5, 10, {"L1": "12"}))
        renderer(TaskFinished("detect-model", {}))
    assert "inverting a trigger: 5/10" in capsys.readouterr().err


def test_quiet_renderers_print_no_progress(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from cleanerclip_tool.cli import render

    monkeypatch.setattr(render, "PLAIN_EVERY", 0.0)
    with render.EventRenderer(quiet=True) as renderer:
        renderer(TaskStarted("scan", total=4))
        renderer(TaskProgress("scan", 2, 4))
    assert "2/4" not in capsys.readouterr().err


def test_finished_runs_keep_one_checkpoint_by_default() -> None:
    from cleanerclip_tool.config import default_of

    assert default_of("keep_checkpoints") == 1
