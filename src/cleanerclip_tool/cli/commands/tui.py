"""``cleanerclip tui``: the Textual app over the same library calls (imported only when run)."""

from __future__ import annotations

from typing import Annotated

import typer

from cleanerclip_tool.cli.common import handle_errors


@handle_errors
def tui_command(
    model: Annotated[
        str | None, typer.Option("--model", "-m", help="MODEL spec to prefill (e.g. toy:badnet). [default: none]")
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="Caption CSV or folder to prefill. [default: none]")
    ] = None,
) -> None:
    """Open the terminal UI: model → data → configure → run → scan, keyboard first."""
    from cleanerclip_tool.tui import run_tui

    run_tui(model=model, data=data)


def register(app: typer.Typer) -> None:
    app.command("tui")(tui_command)
