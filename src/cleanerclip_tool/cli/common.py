"""What every command shares: the stderr console, error handling, JSON output.

Human output goes to stderr so that ``--json`` output on stdout stays one clean document. A
library error becomes one line and its exit code (2 for bad input, 1 for a failed job); Typer's
own usage errors already exit 2.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import typer
from rich.console import Console

from cleanerclip_tool.errors import CleanerClipError

console = Console(stderr=True, highlight=False)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 2) -> typer.Exit:
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
            raise fail(_escape(exc.one_line()), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper  # type: ignore[return-value]


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def print_json(document: Any) -> None:
    """Write one JSON document to stdout (and nothing else goes there)."""
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


def parse_int_list(text: str, name: str) -> list[int]:
    """Parse ``1,3,5,10`` for options such as ``--topk``; each value must be >= 1."""
    try:
        values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise typer.BadParameter(f"expected comma-separated integers, got {text!r}", param_hint=name) from None
    if not values or any(v < 1 for v in values):
        raise typer.BadParameter(f"values must be integers >= 1, got {text!r}", param_hint=name)
    return values
