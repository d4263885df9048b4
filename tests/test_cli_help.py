"""Every command's --help as a user reads it: every default shown, no bracketed text lost, 80 columns.

Rich markup (Typer's default) deletes ``[square brackets]`` from help text, which once hid every
purify default ("[default: 10000]") and turned "TOML file ([purify] table)" into "TOML file ( table)".
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import typer
from typer.testing import CliRunner

from cleanerclip_tool.cli.app import app

runner = CliRunner()


def _commands() -> Iterator[tuple[list[str], object]]:
    """(argv prefix, command) for every command and sub-command of the CLI."""

    def walk(path: list[str], command: object) -> Iterator[tuple[list[str], object]]:
        children = getattr(command, "commands", None)
        if children:
            for name, child in sorted(children.items()):
                yield from walk([*path, name], child)
        else:
            yield path, command

    yield from walk([], typer.main.get_command(app))


COMMANDS = list(_commands())


def _help(path: list[str]) -> str:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    return result.output


def _squash(text: str) -> str:
    return re.sub(r"\s+", "", text)


def test_every_command_is_walked() -> None:
    names = {" ".join(path) for path, _ in COMMANDS}
    assert {"purify", "scan", "info", "fetch", "augment", "trigger optimize-badclip", "toyworld pretrain"} <= names


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_shows_every_default_and_keeps_brackets(path: list[str]) -> None:
    command = dict((tuple(p), c) for p, c in COMMANDS)[tuple(path)]
    text = _help(path)
    flat = _squash(text)
    for param in command.params:  # type: ignore[attr-defined]
        if param.name == "help" or getattr(param, "hidden", False):
            continue
        help_text = param.help or ""
        # Every bracketed piece of the help string reaches the screen.
        for piece in re.findall(r"\[[^\]]*\]", help_text):
            assert _squash(piece) in flat, f"{' '.join(path)} {param.opts}: {piece!r} vanished"
        if param.param_type_name != "option" or param.required:
            continue
        is_plain_flag = getattr(param, "is_flag", False) and not param.secondary_opts
        if is_plain_flag:
            continue  # --overwrite: off unless given
        if param.default is None:
            assert "[default:" in help_text, f"{' '.join(path)} {param.opts[0]} does not say its default"
        else:
            assert _squash(f"[default: {param.default}") in flat or "[default:" in help_text, (
                f"{' '.join(path)} {param.opts[0]}: default {param.default!r} not shown"
            )


@pytest.mark.parametrize("path", [p for p, _ in COMMANDS], ids=[" ".join(p) for p, _ in COMMANDS])
def test_help_fits_80_columns_and_names_arguments_in_capitals(path: list[str]) -> None:
    text = _help(path)
    assert max(len(line) for line in text.splitlines()) <= 80
    usage = next(line for line in text.splitlines() if line.startswith("Usage:"))
    for name in re.findall(r"[{\[]([A-Za-z_]+)[}\]]", usage.split(" ".join(path), 1)[-1]):
        assert name.isupper(), f"argument metavar {name!r} in {usage!r}"


def test_purify_help_shows_the_paper_defaults() -> None:
    flat = _squash(_help(["purify"]))
    for piece in ("[default: 10000]", "[default: 1e-05]", "[default: 1000]", "[default: amp]", "([purify] table)"):
        assert _squash(piece) in flat
    assert _squash("hf-hub:org/name[@rev]") in flat


def test_scan_help_keeps_the_param_prefix() -> None:
    assert _squash("[attack.]name=value") in _squash(_help(["scan"]))
