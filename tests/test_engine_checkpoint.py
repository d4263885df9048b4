"""Checkpoint files: RNG states survive a weights_only round trip; broken files are passed over."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from cleanerclip_tool.engine import checkpoint as ckpt


def _state(step: int) -> dict:
    return {
        "model": {"w": torch.full((2,), float(step))},
        "optimizer": {},
        "step": step,
        "epoch": 0,
        "step_in_epoch": step,
        "config": "{}",
        "rng": ckpt.rng_state(),
    }


def test_rng_states_round_trip_through_weights_only_load(tmp_path: Path) -> None:
    random.seed(1)
    np.random.seed(2)
    torch.manual_seed(3)
    np.random.standard_normal()  # leaves a cached Gaussian in numpy's legacy state
    path = ckpt.write_checkpoint(tmp_path, _state(1))
    expected = (random.random(), float(np.random.random()), float(torch.rand(())))
    random.seed(9)
    np.random.seed(9)
    torch.manual_seed(9)
    state = torch.load(path, weights_only=True)
    ckpt.restore_rng_state(state["rng"])
    assert (random.random(), float(np.random.random()), float(torch.rand(()))) == expected


def test_newest_valid_checkpoint_wins_and_old_ones_are_pruned(tmp_path: Path) -> None:
    for step in (1, 2, 3):
        ckpt.write_checkpoint(tmp_path, _state(step), keep=2)
    assert [p.name for p in ckpt.list_checkpoints(tmp_path)] == ["step-00000002.pt", "step-00000003.pt"]
    ckpt.checkpoint_path(tmp_path, 3).write_bytes(b"truncated")  # a crash mid-copy, say
    path, state = ckpt.latest_valid_checkpoint(tmp_path)
    assert path.name == "step-00000002.pt" and state["step"] == 2
    assert not list((tmp_path / ckpt.CHECKPOINT_DIR).glob(".step-*.tmp"))
