"""What every command shares: the stderr console, error handling, JSON output.

Human output goes to stderr so that ``--json`` output on stdout stays one clean document. There is
one error channel: a command raises the library's ``BadInputError`` (a bad flag value names the flag
as ``where``) or lets a library error through, and ``handle_errors`` turns it into one line and its
exit code (2 for bad input, 1 for a failed job). Only Click's own parsing errors (a wrong type, an
unknown option) take Typer's usage box; they exit 2 too.
"""

from __future__ import annotations

import functools
import json
import math
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from cleanerclip_tool.errors import BadInputError, CleanerClipError

# No emoji codes: a spec such as "toy:x" must not print as "toy❌" (Rich reads ":x:" as an emoji).
console = Console(stderr=True, highlight=False, emoji=False)

F = TypeVar("F", bound=Callable[..., Any])


def _fail(message: str, code: int = 2) -> typer.Exit:
    """Print ``error: message`` on stderr and return the Exit to raise."""
    console.print(f"[bold red]error:[/] {message}", markup=True, soft_wrap=True)
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Turn the library's documented errors into one line and an exit code, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except typer.Exit:
            raise  # typer.Exit subclasses RuntimeError: never swallow it below
        except CleanerClipError as exc:
            raise _fail(_escape(exc.one_line()), exc.exit_code) from None
        except KeyboardInterrupt:
            raise _fail("interrupted", 130) from None

    return wrapper  # type: ignore[return-value]


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


SCHEMA_VERSION = 1  # of every JSON document the CLI writes; raised when a field changes meaning


def json_meta() -> dict[str, Any]:
    """What every JSON document carries: its schema version, the versions that made it, and when."""
    import datetime
    from importlib.metadata import PackageNotFoundError, version

    from cleanerclip_tool import __version__

    def installed(name: str) -> str | None:
        try:
            return version(name)
        except PackageNotFoundError:
            return None

    return {
        "schema_version": SCHEMA_VERSION,
        "cleanerclip": __version__,
        "torch": installed("torch"),
        "open_clip": installed("open_clip_torch"),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _no_nan(value: Any) -> Any:
    """NaN and infinities as None: JSON has no NaN, and strict parsers reject it."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_no_nan(v) for v in value]
    return value


def json_text(document: Any) -> str:
    """A document as strict JSON (no NaN), with ``json_meta()`` first when it is an object."""
    if isinstance(document, dict):
        document = {**json_meta(), **document}
    return json.dumps(_no_nan(document), indent=2, default=str, allow_nan=False) + "\n"


def print_json(document: Any) -> None:
    """Write one JSON document to stdout (and nothing else goes there)."""
    sys.stdout.write(json_text(document))
    sys.stdout.flush()


def parse_int_list(text: str, name: str) -> list[int]:
    """Parse ``1,3,5,10`` for options such as ``--topk``; each value must be >= 1."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BadInputError(f"expected comma-separated integers, got {text!r}", where=name) from None
    if not values or any(v < 1 for v in values):
        raise BadInputError(f"values must be integers >= 1, got {text!r}", where=name)
    return values


class StopOnSignals:
    """SIGTERM and SIGINT set ``stop`` instead of killing the process, while the block runs.

    Long jobs (purify, detect) check ``stop`` between steps, finish cleanly (a checkpoint, a partial
    report) and the command then exits with 128 + the signal number, as a killed process would.
    ``signalled`` lists the signals received; the previous handlers come back on exit.
    """

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.signalled: list[int] = []
        self._previous: dict[int, Any] = {}

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.signalled.append(signum)
        self.stop.set()

    def __enter__(self) -> StopOnSignals:
        import signal

        self._previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        return self

    def __exit__(self, *exc: object) -> None:
        import signal

        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
