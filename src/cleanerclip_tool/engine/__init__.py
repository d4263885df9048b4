"""The purification engine: ``purify(loaded, data, config)`` and its events."""

from cleanerclip_tool.engine.loop import PurifyResult, purify

__all__ = ["PurifyResult", "purify"]
