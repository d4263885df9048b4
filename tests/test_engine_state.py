"""The checkpoint schema: what ``TrainState.to_state`` writes, ``from_state`` reads back."""

from __future__ import annotations

import torch

from cleanerclip_tool.engine import checkpoint as ckpt
from cleanerclip_tool.engine.state import TrainState


def _training_objects() -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    model = torch.nn.Linear(3, 2)
    return model, torch.optim.AdamW(model.parameters(), lr=0.1)


def test_state_round_trips_through_a_checkpoint_file(tmp_path) -> None:
    model, optimizer = _training_objects()
    state = TrainState(batch_size=16, schedule_batch=32, epoch=2, batch_in_epoch=6, step=40, schedule_step=30.5)
    state.skipped_steps, state.amp_skipped_steps = 3, 1
    state.history.append({"epoch": 1, "step": 20, "losses": {"clip": 1.5}})
    state.batch_changes.append({"step": 21, "from": 32, "to": 16, "reason": "out of memory (--auto-batch)"})
    written = state.to_state(
        epoch=2, batch_in_epoch=6, accum_steps=2, model=model, optimizer=optimizer, scaler=None, config={"seed": 1}
    )
    path = ckpt.write_checkpoint(tmp_path, written)
    loaded = ckpt.load_checkpoint(path)  # weights_only: the schema holds no pickled objects
    assert loaded is not None and loaded["step_in_epoch"] == 3
    assert TrainState.from_state(loaded, batch_size=99) == state


def test_an_old_checkpoint_without_batch_keys_resumes_at_the_runs_batch_size() -> None:
    """Checkpoints from before --auto-batch have no batch-size keys: their step is their schedule position."""
    old = {"step": 12, "epoch": 1, "batch_in_epoch": 4}
    state = TrainState.from_state(old, batch_size=8)
    assert (state.batch_size, state.schedule_batch, state.schedule_step) == (8, 8, 12.0)
    assert state.history == [] and state.batch_changes == [] and state.skipped_steps == 0


def test_restore_training_loads_weights_and_optimizer() -> None:
    model, optimizer = _training_objects()
    model(torch.ones(1, 3)).sum().backward()
    optimizer.step()
    saved = TrainState(batch_size=4, schedule_batch=4).to_state(
        epoch=0, batch_in_epoch=0, accum_steps=1, model=model, optimizer=optimizer, scaler=None, config={}
    )
    fresh, fresh_optimizer = _training_objects()
    TrainState.restore_training(saved, model=fresh, optimizer=fresh_optimizer, scaler=None)
    assert all(torch.equal(a, b) for a, b in zip(fresh.state_dict().values(), model.state_dict().values(), strict=True))
    assert fresh_optimizer.state_dict()["state"][0]["step"] == optimizer.state_dict()["state"][0]["step"]
