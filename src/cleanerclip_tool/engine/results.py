"""What a purification run hands back and leaves on disk: its result and the purified model's card."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cleanerclip_tool.config import PurifyConfig
from cleanerclip_tool.data.captions import CaptionTable


@dataclass
class PurifyResult:
    out: Path
    method: str
    epochs: int
    steps: int
    seconds: float
    samples_per_second: float
    final_losses: dict[str, float]
    config: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    stopped: bool = False
    skipped_rows: int = 0
    skipped_steps: int = 0  # non-finite losses
    amp_skipped_steps: int = 0  # optimizer steps the GradScaler skipped (inf/NaN gradients in fp16)
    batch_size: int = 0  # per process at the end (lower than asked when --auto-batch lowered it)
    batch_size_changes: list[dict[str, Any]] = field(default_factory=list)
    model_dir: Path | None = None

    def summary(self) -> dict[str, Any]:
        """The documented ``purify --json`` document."""
        # clip / inmodal / cfa always (null when the method has no such term), then any other term.
        losses = {k: self.final_losses.get(k) for k in ("clip", "inmodal", "cfa")}
        losses.update({k: v for k, v in self.final_losses.items() if k != "total" and k not in losses})
        return {
            "out": str(self.out),
            "model": str(self.model_dir) if self.model_dir else None,
            "method": self.method,
            "epochs": self.epochs,
            "steps": self.steps,
            "seconds": round(self.seconds, 3),
            "samples_per_second": round(self.samples_per_second, 2),
            "final_losses": losses,
            "stopped": self.stopped,
            "skipped_rows": self.skipped_rows,
            "skipped_steps": self.skipped_steps,
            "amp_skipped_steps": self.amp_skipped_steps,
            "batch_size": self.batch_size,
            "batch_size_changes": self.batch_size_changes,
            "history": self.history,
            "config": self.config,
        }


def data_fingerprint(table: CaptionTable) -> dict[str, Any]:
    digest = hashlib.sha256(table.csv_path.read_bytes()).hexdigest()
    return {"csv": str(table.csv_path), "sha256": digest, "rows": len(table.rows), "skipped": len(table.skipped)}


def save_purified(
    loaded: Any,
    model: torch.nn.Module,
    out: Path,
    config: PurifyConfig,
    data: CaptionTable,
    history: list[dict],
    run_notes: dict[str, Any],
) -> Path:
    """Save to ``out/model``; the card's history records the run, batch-size changes included (a
    lowered batch trained a different objective, which whoever uses the model should be able to see)."""
    from cleanerclip_tool.models.save import save_model

    notes = {
        "action": "purify",
        "method": config.method,
        "samples": config.samples if config.method == "cleanerclip" else None,
        "lambda1": config.lambda1,
        "lambda2": config.lambda2 if config.method == "cleanerclip" else None,
        "tau_pos": config.tau_pos if config.method == "cleanerclip" else None,
        "tau_neg": config.tau_neg if config.method == "cleanerclip" else None,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "seed": config.seed,
        "data": data_fingerprint(data),
        "history": history,
        **run_notes,
    }
    return save_model(model, out / "model", loaded.card, notes=notes, overwrite=True)
