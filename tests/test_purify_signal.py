"""SIGTERM during `cleanerclip purify` writes a checkpoint at the next step boundary and exits 143;
`--resume` then finishes the run (a real subprocess, as a user or a scheduler would stop it)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from engine_fixtures import draw_caption_set, tiny_loaded

from cleanerclip_tool.engine.checkpoint import latest_valid_checkpoint
from cleanerclip_tool.models.save import save_model


def _signal_during_purify(tmp_path: Path, sig: signal.Signals, *, epochs: int, settle: float = 0.0):
    """Start `cleanerclip purify` on a tiny model, wait for the first epoch-end checkpoint (training is
    under way), wait ``settle`` seconds more, send ``sig``; returns (args, env, out, returncode, stdout, stderr)."""
    loaded = tiny_loaded()
    model = save_model(loaded.model, tmp_path / "model", loaded.card)
    data = draw_caption_set(tmp_path / "data", n=32)
    out = tmp_path / "out"
    args = [
        sys.executable,
        "-m",
        "cleanerclip_tool",
        "purify",
        str(model),
        "--data",
        str(data),
        "--out",
        str(out),
        "--method",
        "ft",
        "--epochs",
        str(epochs),
        "--batch-size",
        "8",
        "--lr",
        "1e-3",
        "--warmup",
        "1",
        "--workers",
        "0",
        "--checkpoint-every",
        "1000",
        "--json",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 240
    while latest_valid_checkpoint(out) is None:
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.2)
    time.sleep(settle)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    return args, env, out, proc.returncode, stdout, stderr


@pytest.mark.slow
def test_sigterm_checkpoints_exits_143_and_resume_finishes(tmp_path: Path) -> None:
    args, env, out, returncode, stdout, stderr = _signal_during_purify(tmp_path, signal.SIGTERM, epochs=12)
    assert returncode == 143, stderr
    summary = json.loads(stdout)
    assert summary["stopped"] is True
    _path, state = latest_valid_checkpoint(out)
    assert state["step"] == summary["steps"]  # nothing done after the last checkpoint is lost

    resumed = subprocess.run([*args, "--resume"], capture_output=True, text=True, env=env, timeout=240)
    assert resumed.returncode == 0, resumed.stderr
    done = json.loads(resumed.stdout)
    assert done["stopped"] is False and done["steps"] == 12 * (32 // 8)
    assert (out / "model" / "open_clip_model.safetensors").is_file()


@pytest.mark.slow
def test_sigint_checkpoints_at_the_next_step_and_exits_130(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) is handled like SIGTERM: the step under way finishes, a checkpoint of it is
    written, and the exit status is 128 + 2; no KeyboardInterrupt traceback."""
    # settle: land somewhere inside an epoch rather than on its boundary
    _args, _env, out, returncode, stdout, stderr = _signal_during_purify(tmp_path, signal.SIGINT, epochs=40, settle=0.3)
    assert returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    summary = json.loads(stdout)
    assert summary["stopped"] is True and 0 < summary["steps"] < 40 * 4
    assert f"stopped by signal at step {summary['steps']}" in stderr
    _path, state = latest_valid_checkpoint(out)
    assert state["step"] == summary["steps"]  # the checkpoint holds the last finished step
    assert not (out / "model").exists()
