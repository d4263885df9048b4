"""The ``cleanerclip`` command line: a thin Typer face over the library.

Each command lives in ``cli/commands/<name>.py`` and registers itself with ``register(app)``;
command modules import torch and open_clip inside their bodies so that ``cleanerclip --help``
stays instant.
"""

from __future__ import annotations

import importlib

import typer

from cleanerclip_tool import __version__

app = typer.Typer(
    name="cleanerclip",
    help="Remove data-poisoning backdoors from CLIP models, and scan them for triggers.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Only commands that work are listed here; each module defines ``register(app)``.
COMMAND_MODULES: list[str] = [
    # each helper/feature adds its module name on its own line
    "info",
    "fetch",
    "purify",
    "augment",
    "toyworld",
    "scan",
    "detect",
    "poison",
    "trigger",
    "tui",
    "demo",
]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"cleanerclip {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Show the version and exit."
    ),
) -> None:
    """Remove data-poisoning backdoors from CLIP models, and scan them for triggers."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"cleanerclip_tool.cli.commands.{_name}").register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
