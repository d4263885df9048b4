"""A Hugging Face cache laid out the way huggingface_hub reads it offline."""

from __future__ import annotations

import shutil
from pathlib import Path


def add_repo_to_cache(cache: Path, repo_id: str, files_from: Path, sha: str, ref: str | None = "main") -> Path:
    """``models--org--name/snapshots/<sha>/`` with the files, and ``refs/<ref>`` naming the sha."""
    repo_dir = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo_dir / "snapshots" / sha
    snapshot.mkdir(parents=True, exist_ok=True)
    for item in files_from.iterdir():
        if item.is_file():
            shutil.copy2(item, snapshot / item.name)
    if ref:
        (repo_dir / "refs").mkdir(parents=True, exist_ok=True)
        (repo_dir / "refs" / ref).write_text(sha)
    return snapshot
