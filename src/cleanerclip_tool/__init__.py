"""cleanerclip: remove data-poisoning backdoors from CLIP models.

The public API is imported lazily so that ``import cleanerclip_tool`` (and ``cleanerclip --help``)
never pays for torch or open_clip, and so that the library core never pulls in textual, typer or
rich (a test checks this boundary).
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0.dev0"

# name -> module that defines it; resolved on first attribute access (PEP 562).
_LAZY: dict[str, str] = {
    "CleanerClipError": "cleanerclip_tool.errors",
    "BadInputError": "cleanerclip_tool.errors",
    "UnsafeCheckpointError": "cleanerclip_tool.errors",
    "JobFailedError": "cleanerclip_tool.errors",
    "load_model": "cleanerclip_tool.models.load",
    "LoadedModel": "cleanerclip_tool.models.load",
    "ModelCard": "cleanerclip_tool.models.card",
    "save_model": "cleanerclip_tool.models.save",
    "fetch_model": "cleanerclip_tool.hub",
}

__all__ = ["__version__", *sorted(_LAZY)]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cleanerclip_tool' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
