"""What a purification run hands back and leaves on disk: its result and the purified model's card."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from cleanerclip_tool.config import CFA_READINGS, PurifyConfig
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


LR_SCHEDULE = "linear warmup, then cosine decay to 0 (AdamW)"


def library_versions() -> dict[str, str]:
    """The versions that produced the weights (recorded in the model card)."""
    from importlib import metadata

    versions = {}
    for name, dist in (
        ("cleanerclip", "cleanerclip"),
        ("torch", "torch"),
        ("open_clip", "open_clip_torch"),
        ("huggingface_hub", "huggingface_hub"),
        ("python", None),
    ):
        if dist is None:
            import platform

            versions[name] = platform.python_version()
            continue
        try:
            versions[name] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def base_provenance(card: Any) -> dict[str, Any]:
    """Where the weights a run started from came from: spec, kind, revision, hash, license."""
    from cleanerclip_tool.models.hubcard import base_model_of

    earlier = base_model_of(card) if any(h.get("action") == "purify" for h in card.history) else {}
    license_name = _card_license(card.path) or earlier.get("license")
    return {
        "source": card.source,
        "kind": card.kind,
        "architecture": card.architecture,
        "revision": card.revision,
        "sha256": card.sha256,
        "hub_repo": _hub_repo(card) or earlier.get("hub_repo"),
        "license": license_name,
    }


def _hub_repo(card: Any) -> str | None:
    """The Hub repository the starting weights came from: ``hf-hub:org/name``, or open_clip's ``hf_hub``
    location of an ``ARCH:tag``."""
    source = str(card.source)
    if source.startswith("hf-hub:"):
        return source[len("hf-hub:") :].partition("@")[0].strip("/")
    if card.kind == "pretrained" and ":" in source:
        import open_clip

        arch, _, tag = source.partition(":")
        parts = str((open_clip.get_pretrained_cfg(arch, tag) or {}).get("hf_hub", "")).strip("/").split("/")
        return "/".join(parts[:2]) if len(parts) >= 2 else None
    return None


def _card_license(path: str | None) -> str | None:
    """The ``license`` of the README.md model card next to the starting weights, if any."""
    if not path:
        return None
    readme = (Path(path) if Path(path).is_dir() else Path(path).parent) / "README.md"
    if not readme.is_file():
        return None
    try:
        from huggingface_hub import ModelCard

        value = ModelCard.load(readme, ignore_metadata_errors=True).data.license
    except Exception:  # a malformed card has no license to inherit; it must not stop a save
        return None
    return str(value) if value else None


def text_notes(config: PurifyConfig, loss_fn: Any, subcaptioner: Any) -> dict[str, Any]:
    """What decided the run's text side: spaCy model and word banks (sub-captions), EDA's synonyms."""
    notes: dict[str, Any] = {}
    # A sub-captioner the caller passed in need not be ours (tests pass a stand-in): say what is known.
    banks = getattr(subcaptioner, "banks", None)
    if subcaptioner is not None and loss_fn.needs("subcaptions"):
        notes["spacy_model"] = getattr(subcaptioner, "model_id", type(subcaptioner).__name__)
    if banks is not None and loss_fn.needs("subcaptions"):
        notes["wordbanks"] = {
            "folder": "shipped" if config.wordbanks is None else Path(banks.directory).name,
            "hash": banks.content_hash,
        }
    if loss_fn.needs("augmented"):
        from cleanerclip_tool.augment.eda import synonym_source

        source = synonym_source(config.wordbanks)
        notes["synonym_source"] = "shipped synonyms.txt" if source.startswith("shipped:") else source
        if "wordbanks" not in notes:
            from cleanerclip_tool.augment.wordbanks import load_wordbanks

            banks = load_wordbanks(config.wordbanks)
            notes["wordbanks"] = {
                "folder": "shipped" if config.wordbanks is None else Path(banks.directory).name,
                "hash": banks.content_hash,
            }
    return notes


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
        "base": base_provenance(loaded.card),
        "method": config.method,
        "samples": config.samples if config.method == "cleanerclip" else None,
        "lambda1": config.lambda1,
        "lambda2": config.lambda2 if config.method == "cleanerclip" else None,
        "tau_pos": config.tau_pos if config.method == "cleanerclip" else None,
        "tau_neg": config.tau_neg if config.method == "cleanerclip" else None,
        "epochs": config.epochs,
        "batch_size": config.batch_size,
        "lr": config.lr,
        "warmup": config.warmup,
        "lr_schedule": LR_SCHEDULE,
        "weight_decay": config.weight_decay,
        "precision": config.precision,
        # The reading of the lost CFA equations this run trained (docs/cfa-study.md).
        **{name: getattr(config, name) if config.method == "cleanerclip" else None for name in CFA_READINGS},
        "seed": config.seed,
        "data": data_fingerprint(data),
        "versions": library_versions(),
        "history": history,
        **run_notes,
    }
    return save_model(model, out / "model", loaded.card, notes=notes, overwrite=True)
