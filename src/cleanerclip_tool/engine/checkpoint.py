"""Crash-safe training checkpoints.

A checkpoint is written to a temp file in the same folder, flushed and fsynced, renamed over its
final name with ``os.replace`` and the folder fsynced, so a crash leaves either the old file or the
new one, never half of one. Old checkpoints are deleted only after the new one has been read back.
Everything inside is tensors, numbers, strings and dicts of them (RNG states as tensors), so resume
loads with ``torch.load(weights_only=True)`` like any other untrusted file.
"""

from __future__ import annotations

import os
import random
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_DIR = "checkpoints"
_NAME = re.compile(r"^step-(\d{8})\.pt$")
REQUIRED_KEYS = ("model", "optimizer", "step", "epoch", "step_in_epoch", "config", "rng")


def checkpoint_path(out: Path, step: int) -> Path:
    return out / CHECKPOINT_DIR / f"step-{step:08d}.pt"


def rng_state() -> dict[str, Any]:
    """Python's, numpy's and torch's RNG states as tensors, ints and floats (no pickled objects)."""
    version, internal, gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state: dict[str, Any] = {
        "python_version": int(version),
        "python_state": torch.tensor(internal, dtype=torch.int64),
        "python_gauss": float(gauss) if gauss is not None else None,
        "numpy_kind": str(np_kind),
        "numpy_keys": torch.from_numpy(np.asarray(np_keys, dtype=np.int64)),
        "numpy_pos": int(np_pos),
        "numpy_has_gauss": int(np_has_gauss),
        "numpy_gauss": float(np_gauss),
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    internal = tuple(int(x) for x in state["python_state"].tolist())
    random.setstate((state["python_version"], internal, state.get("python_gauss")))
    if "numpy_keys" in state:
        keys = state["numpy_keys"].numpy().astype(np.uint32)
        np.random.set_state(
            (state["numpy_kind"], keys, state["numpy_pos"], state["numpy_has_gauss"], state["numpy_gauss"])
        )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_checkpoint(out: Path, state: dict[str, Any], *, keep: int = 2) -> Path:
    """Atomically write ``state`` for ``state['step']``; then prune to the newest ``keep``."""
    folder = out / CHECKPOINT_DIR
    folder.mkdir(parents=True, exist_ok=True)
    final = checkpoint_path(out, int(state["step"]))
    fd, tmp_name = tempfile.mkstemp(prefix=".step-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            torch.save(state, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp_name, final)
        _fsync_dir(folder)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    if load_checkpoint(final) is None:  # read back before deleting anything older
        raise OSError(f"checkpoint {final} did not validate after writing")
    for old in list_checkpoints(out)[:-keep] if keep > 0 else []:
        old.unlink(missing_ok=True)
    return final


def list_checkpoints(out: Path) -> list[Path]:
    """Checkpoint files, oldest first."""
    folder = out / CHECKPOINT_DIR
    if not folder.is_dir():
        return []
    found = [p for p in folder.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=lambda p: int(_NAME.match(p.name).group(1)))  # type: ignore[union-attr]


def load_checkpoint(path: Path) -> dict[str, Any] | None:
    """The checkpoint's state, or None when it is unreadable or incomplete."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:
        return None
    if not isinstance(state, dict) or any(k not in state for k in REQUIRED_KEYS):
        return None
    return state


def latest_valid_checkpoint(out: Path) -> tuple[Path, dict[str, Any]] | None:
    """The newest checkpoint in ``out`` that loads and has every required part."""
    for path in reversed(list_checkpoints(out)):
        state = load_checkpoint(path)
        if state is not None:
            return path, state
    return None
