"""TUI in a real pseudo-terminal: start ``cleanerclip tui``, send keys, read the screen as a user sees it.

pexpect gives the app a pty of 80x24 (so Textual runs its real Linux driver, not the test harness);
pyte plays the bytes it writes into a virtual 80x24 screen whose lines we assert on.
Both are pure Python, so this runs on any CI machine without tmux.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pexpect
import pyte

COLS, ROWS = 80, 24
F3 = "\x1bOR"  # xterm's F3
CTRL_Q = "\x11"


def tui_command() -> tuple[str, list[str]]:
    """The installed ``cleanerclip`` script of this interpreter, else ``python -m cleanerclip_tool``."""
    script = Path(sys.executable).parent / "cleanerclip"
    if script.is_file():
        return str(script), ["tui"]
    found = shutil.which("cleanerclip")
    if found:
        return found, ["tui"]
    return sys.executable, ["-m", "cleanerclip_tool", "tui"]


class Terminal:
    """A child process on a pty, its output fed into a pyte screen."""

    def __init__(self, command: str, args: list[str], cwd: Path) -> None:
        env = dict(os.environ, TERM="xterm-256color", COLUMNS=str(COLS), LINES=str(ROWS))
        env.pop("NO_COLOR", None)
        self.screen = pyte.Screen(COLS, ROWS)
        self.stream = pyte.ByteStream(self.screen)
        self.child = pexpect.spawn(command, args, cwd=str(cwd), env=env, dimensions=(ROWS, COLS), timeout=5)

    def pump(self, seconds: float = 0.2) -> None:
        # TIMEOUT: nothing new was drawn; EOF: the app ended (wait_for then reports the last screen).
        with contextlib.suppress(pexpect.TIMEOUT, pexpect.EOF):
            self.stream.feed(self.child.read_nonblocking(size=1 << 16, timeout=seconds))

    def text(self) -> str:
        return "\n".join(self.screen.display)

    def wait_for(self, ok: Callable[[str], bool], what: str, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.child.isalive():
                break
            self.pump()
            if ok(self.text()):
                return self.text()
        raise AssertionError(f"{what} not on screen after {timeout:.0f}s; screen:\n{self.text()}")

    def send(self, keys: str) -> None:
        self.child.send(keys)


def test_tui_in_a_real_terminal_switches_panes_and_quits_cleanly(tmp_path) -> None:
    term = Terminal(*tui_command(), cwd=tmp_path)
    try:
        screen = term.wait_for(lambda s: "MODEL spec" in s and "^r Resolve" in s, "the Model pane", timeout=60)
        lines = screen.splitlines()
        assert "cleanerclip" in lines[0]
        assert "F1 Model" in lines[1] and "F5 Scan" in lines[1]
        assert "no model resolved yet" in screen
        assert "^q Quit" in lines[-1]

        term.send(F3)
        screen = term.wait_for(lambda s: "samples K" in s and "^t Start" in s, "the Configure form", timeout=20)
        for label in ("method", "λ1", "λ2", "τ+", "τ−", "batch size", "out folder", "an output folder is required"):
            assert label in screen, label
        assert "MODEL spec" not in screen

        term.send(CTRL_Q)
        term.child.expect(pexpect.EOF, timeout=20)
    finally:
        term.child.close(force=True)
    assert term.child.exitstatus == 0, (term.child.exitstatus, term.child.signalstatus)
