"""The shared event formatter: one text per event family, for the CLI and the TUI alike."""

from __future__ import annotations

import json
import subprocess
import sys

from cleanerclip_tool.engine.events import (
    BatchSizeLowered,
    CheckpointWritten,
    EpochStarted,
    EvalDone,
    RunFinished,
    RunStarted,
    StepDone,
    StepSkipped,
)
from cleanerclip_tool.events import Info, TaskFinished, TaskProgress, TaskStarted, WarningEvent
from cleanerclip_tool.eventtext import (
    checkpoint_text,
    duration_text,
    event_text,
    losses_text,
    lr_text,
    rate_text,
    step_text,
)

STEP = StepDone(
    epoch=2,
    step=7,
    total_steps=20,
    step_in_epoch=2,
    steps_in_epoch=10,
    losses={"clip": 1.23456, "cfa": 0.5},
    lr=1.2345e-7,
    samples_per_second=123.45,
    eta_seconds=3725.9,
)


def test_quantities_have_one_format() -> None:
    assert losses_text({"clip": 1.23456, "cfa": 0.5}) == "clip 1.2346  cfa 0.5000"
    assert lr_text(1e-5) == "1e-05" and lr_text(1.2345e-7) == "1.23e-07"
    assert rate_text(123.45) == "123.5 samples/s"
    assert duration_text(3725.9) == "1:02:05" and duration_text(-3) == "0:00:00"


def test_each_training_event_has_its_line() -> None:
    assert step_text(STEP) == "epoch 2 step 7/20  clip 1.2346  cfa 0.5000  lr 1.23e-07  123.5 samples/s  eta 1:02:05"
    run = RunStarted(
        method="cleanerclip",
        epochs=1,
        steps_per_epoch=4,
        total_steps=4,
        samples=8,
        device="cpu",
        precision="fp32",
        out="o",
        resumed_from_step=2,
    )
    assert event_text(run) == "run: cleanerclip on cpu (fp32), 4 steps/epoch, K=8 → o, resumed at step 2"
    assert event_text(EpochStarted(epoch=1, epochs=3, steps=4, cfa_samples=8)) == "epoch 1/3: 4 steps, CFA samples 8"
    ckpt = CheckpointWritten(path="/runs/x/step-4.pt", step=4)
    assert event_text(ckpt) == "checkpoint at step 4: /runs/x/step-4.pt"
    assert checkpoint_text(ckpt, short=True) == "at step 4: step-4.pt"
    skipped = StepSkipped(step=3, reason="non-finite loss", count=2)
    assert event_text(skipped) == "step 3 skipped: non-finite loss (2 so far)"
    assert event_text(EvalDone(epoch=1, metrics={"ba": 0.5, "asr": 0.1})) == "eval after epoch 1: ba 0.5  asr 0.1"
    assert event_text(RunFinished(out="o", steps=4, seconds=1.25, stopped=True)) == "done: 4 steps in 1.2s (stopped)"
    lowered = BatchSizeLowered("batch lowered", step=3, old=64, new=32, total_steps=8, steps_in_epoch=8)
    assert event_text(lowered) == "warning: batch lowered"


def test_messages_and_tasks() -> None:
    assert event_text(Info("hello")) == "hello"
    assert event_text(WarningEvent("careful")) == "warning: careful"
    assert event_text(TaskStarted("scan", total=3, description="scanning")) == "scanning"
    assert event_text(TaskProgress("scan", 1, 3, {"ba": 0.5})) == "scan 1/3  ba 0.5"
    assert event_text(TaskFinished("scan")) is None


def test_the_formatter_imports_no_ui_library_and_no_torch() -> None:
    code = (
        "import sys, json, cleanerclip_tool.eventtext\n"
        "print(json.dumps(sorted(m for m in ('textual', 'typer', 'rich', 'click', 'torch') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []
