"""Promises 6, 7 and 9 by fault injection: out of memory, disk full while saving, determinism."""

from __future__ import annotations

import errno
import threading
from pathlib import Path

import pytest
import torch
from engine_fixtures import draw_caption_set, tiny_loaded

from cleanerclip_tool.config import PurifyConfig
from cleanerclip_tool.data.captions import load_caption_table
from cleanerclip_tool.engine import checkpoint as ckpt
from cleanerclip_tool.engine import purify
from cleanerclip_tool.engine import step as engine_step
from cleanerclip_tool.engine.events import StepDone
from cleanerclip_tool.errors import JobFailedError


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory):
    return load_caption_table(draw_caption_set(tmp_path_factory.mktemp("data"), n=24))


def _config(out: Path, **kw) -> PurifyConfig:
    base = dict(method="ft", epochs=2, batch_size=8, lr=1e-3, warmup=1, workers=0, out=str(out), seed=5)
    base.update(kw)
    return PurifyConfig(**base)


def _first_losses(table, out: Path, n: int, **kw) -> list[tuple[int, dict[str, float]]]:
    """The losses of the first ``n`` steps; the run is stopped there (no final save: faster)."""
    stop = threading.Event()
    seen: list[tuple[int, dict[str, float]]] = []

    def on_event(event) -> None:
        if isinstance(event, StepDone):
            seen.append((event.step, event.losses))
            if len(seen) == n:
                stop.set()

    purify(tiny_loaded(), table, _config(out, **kw), on_event=on_event, stop=stop)
    return seen


def test_same_seed_same_losses(table, tmp_path: Path) -> None:
    """Promise 9: two runs with the same seed and config give identical losses, step by step."""
    first = _first_losses(table, tmp_path / "a", 4)
    assert [step for step, _ in first] == [1, 2, 3, 4]
    assert _first_losses(table, tmp_path / "b", 4) == first
    assert _first_losses(table, tmp_path / "c", 4, seed=6) != first  # and the seed does matter


def test_out_of_memory_stops_cleanly_with_batch_size_advice(table, tmp_path: Path, monkeypatch) -> None:
    """Promise 7: an OOM in the third step (simulated on the CPU: from then on a forward pass over more
    than 2 rows "runs out") stops with the batch size a probe found to fit, a word about the objective,
    and the checkpoint of the steps before it kept."""
    real = engine_step.forward_loss
    calls: list[int] = []

    def forward_that_runs_out(model, loss_fn, batch, *args, **kwargs):
        calls.append(batch["image"].shape[0])
        if len(calls) >= 3 and batch["image"].shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(model, loss_fn, batch, *args, **kwargs)

    monkeypatch.setattr(engine_step, "forward_loss", forward_that_runs_out)
    out = tmp_path / "o"
    with pytest.raises(JobFailedError) as info:
        purify(tiny_loaded(), table, _config(out, checkpoint_every=1))
    text = info.value.one_line()
    assert calls == [8, 8, 8, 4, 2]  # the step, then the probe halving on the same data until 2 fits
    assert "out of memory at step 3 with batch size 8" in text
    advice = "--batch-size 2 fits; note a smaller batch changes the contrastive objective (fewer in-batch negatives)"
    assert advice in text
    assert "--auto-batch" in text and "--resume" in text
    found = ckpt.latest_valid_checkpoint(out)
    assert found is not None and found[1]["step"] == 2
    assert not (out / "model").exists()


def test_disk_full_while_saving_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    """Promise 7: ENOSPC half-way through a checkpoint leaves the previous one whole and no debris."""
    state = {
        "model": {"w": torch.arange(4.0)},
        "optimizer": {},
        "epoch": 0,
        "step_in_epoch": 0,
        "config": "{}",
        "rng": ckpt.rng_state(),
    }
    ckpt.write_checkpoint(tmp_path, {**state, "step": 1})
    real_save = torch.save

    def save_until_the_disk_fills(obj, fh, *args, **kwargs):
        real_save(obj, fh, *args, **kwargs)
        fh.truncate(fh.tell() // 2)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(ckpt.torch, "save", save_until_the_disk_fills)
    with pytest.raises(OSError) as info:
        ckpt.write_checkpoint(tmp_path, {**state, "step": 2, "model": {"w": torch.zeros(4)}})
    assert info.value.errno == errno.ENOSPC
    monkeypatch.undo()
    path, kept = ckpt.latest_valid_checkpoint(tmp_path)
    assert path.name == "step-00000001.pt" and kept["step"] == 1
    torch.testing.assert_close(kept["model"]["w"], torch.arange(4.0))
    assert [p.name for p in (tmp_path / ckpt.CHECKPOINT_DIR).iterdir()] == ["step-00000001.pt"]


def test_checkpoint_that_fails_to_verify_prunes_nothing(tmp_path: Path, monkeypatch) -> None:
    """Promise 3: old checkpoints go only after the new one reads back whole."""
    state = {"model": {}, "optimizer": {}, "epoch": 0, "step_in_epoch": 0, "config": "{}", "rng": ckpt.rng_state()}
    for step in (1, 2):
        ckpt.write_checkpoint(tmp_path, {**state, "step": step}, keep=1)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step-00000002.pt"]
    monkeypatch.setattr(ckpt, "load_checkpoint", lambda path: None)  # the read-back finds garbage
    with pytest.raises(OSError, match="did not validate"):
        ckpt.write_checkpoint(tmp_path, {**state, "step": 3}, keep=1)
    monkeypatch.undo()
    assert ckpt.checkpoint_path(tmp_path, 2).is_file()
