"""What the screens share: the resolved model, the data, the last config and the purified model.

Kept outside ``app.py`` so that screens can read it without importing the app (no cycles).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RECENT_FILE = "tui-recent.json"
RECENT_LIMIT = 10


@dataclass
class Session:
    model_spec: str | None = None
    card: Any = None  # ModelCard of the resolved model
    loaded: Any = None  # LoadedModel; purify trains it in place, so the scan reloads from the spec
    table: Any = None  # CaptionTable
    config: Any = None  # last valid PurifyConfig
    purified_dir: Path | None = None  # model folder written by the last finished run
    scans: dict[str, dict[str, Any]] = field(default_factory=dict)  # "before"/"after" -> scan report dict


def recent_path() -> Path:
    from cleanerclip_tool.resources import cache_dir

    return cache_dir() / RECENT_FILE


def read_recent() -> list[str]:
    """Recently resolved MODEL specs, newest first; a broken file is treated as empty."""
    try:
        data = json.loads(recent_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    return [s for s in data if isinstance(s, str)][:RECENT_LIMIT] if isinstance(data, list) else []


def remember_recent(spec: str) -> list[str]:
    items = [spec, *[s for s in read_recent() if s != spec]][:RECENT_LIMIT]
    # The recent list is a convenience: a read-only cache must not break resolving.
    with contextlib.suppress(OSError):
        recent_path().write_text(json.dumps(items, indent=1) + "\n", encoding="utf-8")
    return items
