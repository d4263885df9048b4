"""The model card: what a model is and where it came from, carried across saves."""

from __future__ import annotations

import dataclasses
import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ModelCard:
    """Small, JSON-able description of a resolved model.

    ``history`` records what was done to the model (pretraining, purification runs) and survives
    ``save_model`` → ``load_model`` round trips, so a purified model says how it was purified.
    """

    architecture: str
    source: str
    kind: str
    path: str | None = None
    sha256: str | None = None
    parameters: int = 0
    revision: str | None = None
    model_cfg: dict[str, Any] = field(default_factory=dict)
    preprocess_cfg: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    @property
    def image_size(self) -> int | tuple[int, int] | None:
        return self.model_cfg.get("vision_cfg", {}).get("image_size")

    @property
    def context_length(self) -> int | None:
        return self.model_cfg.get("text_cfg", {}).get("context_length", 77 if self.model_cfg else None)

    @property
    def embed_dim(self) -> int | None:
        return self.model_cfg.get("embed_dim")


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Stream the file: weights can be gigabytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()
