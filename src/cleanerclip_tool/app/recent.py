"""The model the last finished ``purify`` wrote, so that ``cleanerclip scan`` without MODEL scans it.

The design's usage lines read ``cleanerclip purify MODEL --data DATA`` then ``cleanerclip scan
--attack badnet``: the second scans what the first wrote. A finished run (CLI or TUI) records the
purified model's folder in ``last-purified.json`` in cleanerclip's cache (``CLEANERCLIP_CACHE``
overrides where that is); a stopped run records nothing.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from cleanerclip_tool.errors import BadInputError

RECORD_NAME = "last-purified.json"


def _record_path() -> Path:
    from cleanerclip_tool.resources import cache_dir

    return cache_dir() / RECORD_NAME


def record_last_purified(model_dir: str | Path) -> None:
    """Remember ``model_dir`` as the last purified model (best effort: a read-only cache is no error)."""
    doc = {"model": str(Path(model_dir).resolve()), "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    try:
        path = _record_path()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    except OSError:
        pass


def last_purified() -> Path:
    """The folder the last finished purify wrote; ``BadInputError`` (exit 2) saying how to name a model."""
    hint = "name one: cleanerclip scan MODEL (a folder, weights file, hf-hub:org/name or toy:NAME)"
    try:
        doc = json.loads(_record_path().read_text(encoding="utf-8"))
        model = Path(doc["model"])
    except (OSError, ValueError, KeyError, TypeError):
        raise BadInputError("no MODEL given and no purified model recorded yet", where="MODEL", hint=hint) from None
    if not model.is_dir():
        raise BadInputError(
            f"no MODEL given, and the last purified model ({model}) is gone", where="MODEL", hint=hint
        ) from None
    return model


__all__ = ["last_purified", "record_last_purified"]
