"""Promise 3: ``cleanerclip purify`` killed with SIGKILL at a random step, then run again with
``--resume``, finishes with the same weights as a run that was never interrupted, having lost at
most one checkpoint interval. Real subprocesses: SIGKILL cannot be caught, so nothing in-process
can stand in for it."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from engine_fixtures import draw_caption_set, tiny_loaded
from safetensors.torch import load_file

from cleanerclip_tool.engine.checkpoint import latest_valid_checkpoint
from cleanerclip_tool.models.save import save_model

EPOCHS, ROWS, BATCH = 6, 32, 8
TOTAL_STEPS = EPOCHS * (ROWS // BATCH)


def _args(model: Path, data: Path, out: Path) -> list[str]:
    return [
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
        "cleanclip",
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        str(BATCH),
        "--lr",
        "1e-3",
        "--warmup",
        "2",
        "--workers",
        "0",
        "--seed",
        "3",
        "--checkpoint-every",
        "1",
        "--json",
    ]


@pytest.mark.slow
def test_sigkill_at_a_random_step_then_resume_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    loaded = tiny_loaded()
    model = save_model(loaded.model, tmp_path / "model", loaded.card)
    data = draw_caption_set(tmp_path / "data", n=ROWS)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    data_files = sorted(p.relative_to(data) for p in data.rglob("*"))
    run = tmp_path / "cwd"  # the working folder: anything written outside --out would land here
    run.mkdir()

    whole = subprocess.run(
        _args(model, data, tmp_path / "whole"), capture_output=True, text=True, env=env, timeout=300, cwd=run
    )
    assert whole.returncode == 0, whole.stderr
    assert json.loads(whole.stdout)["steps"] == TOTAL_STEPS

    kill_after = random.Random().randint(2, TOTAL_STEPS - 4)
    out = tmp_path / "killed"
    proc = subprocess.Popen(_args(model, data, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=run)
    deadline = time.monotonic() + 300
    while True:
        found = latest_valid_checkpoint(out) if (out / "checkpoints").is_dir() else None
        if found is not None and found[1]["step"] >= kill_after:
            break
        assert proc.poll() is None, f"run ended before step {kill_after}: {proc.communicate()[1][-2000:]!r}"
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL, f"kill after step {kill_after}"
    assert not (out / "model").exists()
    survivor = latest_valid_checkpoint(out)
    assert survivor is not None and survivor[1]["step"] >= kill_after  # at most one interval (1 step) lost

    human = [a for a in _args(model, data, out) if a != "--json"]  # progress and notices on stderr
    resumed = subprocess.run(
        [*human, "--resume"], capture_output=True, text=True, env={**env, "COLUMNS": "300"}, timeout=300, cwd=run
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"(step {survivor[1]['step']})" in resumed.stderr  # it resumed, it did not start over
    assert json.loads((out / "summary.json").read_text())["steps"] == TOTAL_STEPS

    # Promise 5: nothing was written outside --out (and the cache, which conftest points elsewhere).
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cwd", "data", "killed", "model", "whole"]
    assert not list(run.iterdir()) and sorted(p.relative_to(data) for p in data.rglob("*")) == data_files

    expected = load_file(tmp_path / "whole" / "model" / "open_clip_model.safetensors")
    got = load_file(out / "model" / "open_clip_model.safetensors")
    assert expected.keys() == got.keys()
    for key, value in expected.items():
        torch.testing.assert_close(got[key], value, rtol=1e-5, atol=1e-7, msg=f"{key} (killed after {kill_after})")
