"""Messages between the worker threads, the screens and the app.

Workers never touch widgets: they ``post_message`` one of these (thread-safe) and the handler runs
on the event loop.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class LibraryEvent(Message):
    """A library ``Event`` (training step, task progress, info) forwarded from a worker thread."""

    def __init__(self, event: Any) -> None:
        super().__init__()
        self.event = event


class WorkFailed(Message):
    """A worker raised; ``error`` is shown as ``where: what`` like the CLI does."""

    def __init__(self, what: str, error: BaseException) -> None:
        super().__init__()
        self.what = what
        self.error = error


class ModelResolved(Message):
    def __init__(self, spec: str, loaded: Any) -> None:
        super().__init__()
        self.spec = spec
        self.loaded = loaded


class DataLoaded(Message):
    def __init__(self, table: Any, sizes: list[str] | None = None) -> None:
        super().__init__()
        self.table = table
        self.sizes = sizes or []  # "WxH MODE" of the first preview rows, read in the worker


class StartRun(Message):
    """Configure asks for a run with a validated config (``resume`` continues the out folder)."""

    def __init__(self, config: Any, resume: bool = False) -> None:
        super().__init__()
        self.config = config
        self.resume = resume


class RunDone(Message):
    def __init__(self, result: Any) -> None:
        super().__init__()
        self.result = result


class ScanDone(Message):
    def __init__(self, reports: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.reports = reports


def describe_error(error: BaseException) -> str:
    """``where: what (hint)`` for the project's errors, ``Type: text`` for anything else."""
    from cleanerclip_tool.errors import CleanerClipError

    if isinstance(error, CleanerClipError):
        return str(error)
    return f"{type(error).__name__}: {error}"
