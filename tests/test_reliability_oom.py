"""Promises 6 and 7 on the CPU: out of memory (simulated) with ``--auto-batch``, and AMP's skipped
steps (a GradScaler that finds inf gradients) counted and shown, not hidden."""

from __future__ import annotations

import contextlib
import json
import threading
from pathlib import Path

import pytest
import torch
from engine_fixtures import draw_caption_set, tiny_loaded

from cleanerclip_tool.config import PurifyConfig, build_purify_config
from cleanerclip_tool.data.captions import load_caption_table
from cleanerclip_tool.engine import memory, purify, step
from cleanerclip_tool.engine.events import BatchSizeLowered, StepDone, StepSkipped
from cleanerclip_tool.errors import JobFailedError
from cleanerclip_tool.losses import PurifyLoss

ROWS, BATCH, EPOCHS = 24, 8, 2


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory):
    return load_caption_table(draw_caption_set(tmp_path_factory.mktemp("data"), n=ROWS))


def _config(out: Path, **kw) -> PurifyConfig:
    base = dict(method="ft", epochs=EPOCHS, batch_size=BATCH, lr=1e-3, warmup=1, workers=0, out=str(out), seed=5)
    base.update(kw)
    return PurifyConfig(**base)


def _memory_shrinks(monkeypatch, *, after_calls: int, limit: int) -> list[int]:
    """From call ``after_calls + 1`` on, a forward pass over more than ``limit`` rows raises CUDA's
    OOM error (as if another job took the GPU's memory); returns the batch sizes seen."""
    real = step.forward_loss
    calls: list[int] = []

    def forward(model, loss_fn, batch, *args, **kwargs):
        calls.append(batch["image"].shape[0])
        if len(calls) > after_calls and batch["image"].shape[0] > limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(model, loss_fn, batch, *args, **kwargs)

    monkeypatch.setattr(step, "forward_loss", forward)
    return calls


def test_auto_batch_lowers_the_batch_warns_records_it_and_finishes(table, tmp_path: Path, monkeypatch) -> None:
    calls = _memory_shrinks(monkeypatch, after_calls=2, limit=4)
    events: list = []
    out = tmp_path / "o"
    result = purify(tiny_loaded(), table, _config(out, auto_batch=True), on_event=events.append)
    assert calls[:4] == [8, 8, 8, 4]  # step 3 ran out; the probe found that 4 rows fit
    lowered = [e for e in events if isinstance(e, BatchSizeLowered)]
    assert len(lowered) == 1 and (lowered[0].old, lowered[0].new, lowered[0].step) == (8, 4, 3)
    assert "objective changed" in lowered[0].message and "in-batch negatives" in lowered[0].message
    # Epoch 1: 2 steps of 8 rows, then its last 8 rows as 2 steps of 4; epoch 2: 24 rows in 6 steps.
    assert result.steps == 2 + 2 + 6 == lowered[0].total_steps and not result.stopped
    assert result.batch_size == 4 and all(n <= 4 for n in calls[4:])
    steps = [e for e in events if isinstance(e, StepDone)]
    assert [e.step for e in steps] == list(range(1, 11)) and steps[-1].total_steps == 10
    assert result.batch_size_changes == [{"step": 3, "from": 8, "to": 4, "reason": "out of memory (--auto-batch)"}]
    card = json.loads((out / "model" / "cleanerclip_card.json").read_text())
    entry = card["history"][-1]
    assert entry["batch_size"] == 4 and entry["batch_size_requested"] == 8
    assert entry["batch_size_changes"] == result.batch_size_changes
    assert json.loads((out / "summary.json").read_text())["batch_size_changes"] == result.batch_size_changes
    from cleanerclip_tool.cli.commands.purify import run_notices

    assert "batch size 8 → 4 at step 3" in run_notices(result)[0]  # the CLI's closing lines repeat it


def test_resume_after_auto_batch_keeps_the_lowered_batch(table, tmp_path: Path, monkeypatch) -> None:
    _memory_shrinks(monkeypatch, after_calls=2, limit=4)
    stop = threading.Event()
    out = tmp_path / "o"

    def stop_at_step_5(event) -> None:
        if isinstance(event, StepDone) and event.step == 5:
            stop.set()

    first = purify(tiny_loaded(), table, _config(out, auto_batch=True), on_event=stop_at_step_5, stop=stop)
    assert first.stopped and first.steps == 5 and first.batch_size == 4
    monkeypatch.undo()  # a fresh process: memory is as it was, but the run keeps the batch it chose
    events: list = []
    again = purify(tiny_loaded(), table, _config(out, auto_batch=True), on_event=events.append, resume=True)
    assert again.steps == 10 and again.batch_size == 4 and not again.stopped
    assert any("--auto-batch chose" in getattr(e, "message", "") for e in events)
    assert again.batch_size_changes == first.batch_size_changes  # the change made before the stop is kept


def test_out_of_memory_even_at_batch_1_says_so(table, tmp_path: Path, monkeypatch) -> None:
    _memory_shrinks(monkeypatch, after_calls=0, limit=0)
    with pytest.raises(JobFailedError, match="not even batch size 1 fits"):
        purify(tiny_loaded(), table, _config(tmp_path / "o", auto_batch=True))


def test_probe_leaves_no_trace_and_returns_the_largest_size_that_fits(table, monkeypatch) -> None:
    calls = _memory_shrinks(monkeypatch, after_calls=0, limit=3)
    loaded = tiny_loaded()
    model = loaded.model
    model.output_dict = True
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = {
        "image": torch.rand(16, 3, 32, 32),
        "tokens": loaded.tokenizer(["a red square"] * 16),
        "row": torch.arange(16),
        "bad_row": torch.full((16,), -1),
    }
    rng = torch.get_rng_state()
    fits = memory.probe_batch_size(
        model,
        PurifyLoss.from_config(PurifyConfig(method="ft")),
        batch,
        {},
        torch.device("cpu"),
        contextlib.nullcontext,
        failed=16,
    )
    assert fits == 2 and calls == [8, 4, 2]
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(torch.get_rng_state(), rng)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_torchrun_hint_says_auto_batch_cannot_apply() -> None:
    error = memory.out_of_memory_error(64, 16, 9, Path("out"), auto_batch=True, distributed=True)
    assert "--batch-size 16 fits" in error.one_line() and "under torchrun" in error.one_line()


def test_auto_batch_flag_and_toml_key(tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text("[purify]\nauto_batch = true\nmax_bad_rows_in_a_row = 7\n")
    cfg = build_purify_config(toml)
    assert cfg.auto_batch is True and cfg.max_bad_rows_in_a_row == 7
    assert build_purify_config(toml, {"auto_batch": False}).auto_batch is False  # the flag wins
    assert PurifyConfig().auto_batch is False and PurifyConfig().max_bad_rows_in_a_row == 50


def test_amp_skipped_steps_are_counted_and_shown(table, tmp_path: Path, monkeypatch, capsys) -> None:
    """Promise 6: a GradScaler step skipped for inf gradients is counted apart from non-finite losses,
    reported as an event the CLI prints, and changes no weight."""
    monkeypatch.setattr(step, "autocast_for", lambda device, precision: (contextlib.nullcontext, True))
    loaded = tiny_loaded()
    backward_calls: list[int] = []

    def inf_on_first_backward(grad: torch.Tensor) -> torch.Tensor:
        backward_calls.append(1)
        return grad * float("inf") if len(backward_calls) == 1 else grad

    loaded.model.logit_scale.register_hook(inf_on_first_backward)
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    after_step_1: dict[str, torch.Tensor] = {}
    stop = threading.Event()

    def on_event(event) -> None:
        events.append(event)
        if isinstance(event, StepDone) and event.step == 1:
            after_step_1.update({k: v.clone() for k, v in loaded.model.state_dict().items()})

    events: list = []
    result = purify(loaded, table, _config(tmp_path / "o", epochs=1), on_event=on_event, stop=stop)
    skipped = [e for e in events if isinstance(e, StepSkipped)]
    assert [(e.step, e.count) for e in skipped] == [(1, 1)] and "AMP" in skipped[0].reason
    assert result.amp_skipped_steps == 1 and result.skipped_steps == 0 and result.steps == ROWS // BATCH
    for key, value in before.items():  # the skipped step trained nothing
        assert torch.equal(after_step_1[key], value), key
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["amp_skipped_steps"] == 1

    from cleanerclip_tool.cli.progress import TrainingDisplay

    display = TrainingDisplay(live=False)
    display(skipped[0])
    assert "warning: step 1 skipped: AMP overflow (GradScaler) (1 so far)" in capsys.readouterr().err
    assert display.status["AMP skipped steps"].startswith("1")
    from cleanerclip_tool.cli.commands.purify import run_notices

    assert "0 step(s) skipped for a non-finite loss, 1 skipped by AMP's GradScaler" in run_notices(result)[0]
