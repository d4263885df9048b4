"""The ``cleanerclip`` command line: a thin Typer face over the library.

Each command lives in ``cli/commands/<name>.py`` as a module-level function (importable and
testable on its own) and the module's ``register(app)`` only attaches it: ``app.command(name)(func)``,
or ``app.add_typer(group)`` for a command group. Command modules import torch and open_clip inside
their bodies so that ``cleanerclip --help`` stays instant.
"""

from __future__ import annotations

import importlib
from typing import Annotated

import typer

from cleanerclip_tool import __version__

app = typer.Typer(
    name="cleanerclip",
    help="Remove data-poisoning backdoors from CLIP models, and scan them for triggers.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_show_locals=False,
    # No markup in help text: Rich markup deletes [bracketed] text such as "[default: 10000]",
    # "hf-hub:org/name[@rev]" and "[attack.]name=value"; plain help also reads at 80 columns.
    rich_markup_mode=None,
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
    "push",
]


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"cleanerclip {__version__}")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Remove data-poisoning backdoors from CLIP models, and scan them for triggers."""


for _name in COMMAND_MODULES:
    importlib.import_module(f"cleanerclip_tool.cli.commands.{_name}").register(app)


def main() -> None:
    # A fixed program name: completion's environment variable (_CLEANERCLIP_COMPLETE) and the usage
    # lines stay the same however the program was started (the script, ``python -m cleanerclip_tool``).
    app(prog_name="cleanerclip")


if __name__ == "__main__":  # pragma: no cover
    main()
