"""Shell completion: ``--install-completion`` / ``--show-completion`` as every Typer CLI has them."""

from __future__ import annotations

import os
import subprocess
import sys

from typer.testing import CliRunner

from cleanerclip_tool.cli.app import app

runner = CliRunner()


def test_help_offers_completion_install() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "--install-completion" in result.output and "--show-completion" in result.output


def test_show_completion_prints_a_bash_script() -> None:
    result = runner.invoke(app, ["--show-completion", "bash"])
    assert result.exit_code == 0, result.output
    assert "_cleanerclip_completion" in result.output and "complete" in result.output


def test_bash_completes_commands_and_options() -> None:
    """What the installed script asks the program: the words it may complete to."""

    def complete(words: str, cword: int) -> list[str]:
        env = {**os.environ, "_CLEANERCLIP_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
        code = "from cleanerclip_tool.cli.app import main; main()"
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
        return out.stdout.split()

    assert complete("cleanerclip sc", 1) == ["scan"]
    assert "--attack" in complete("cleanerclip scan --att", 2)
