"""``cleanerclip tui``: a Textual face over the same library calls the CLI makes.

Nothing here holds training or scan logic: every action runs a library function in a thread
worker and the library's events come back as Textual messages (see ``messages.py``).
"""

from __future__ import annotations

__all__ = ["run_tui"]


def run_tui(model: str | None = None, data: str | None = None) -> None:
    """Start the app (blocking); optional MODEL / DATA prefill the first two screens."""
    from cleanerclip_tool.tui.app import CleanerClipApp

    CleanerClipApp(model=model, data=data).run()
