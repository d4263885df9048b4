"""The wheel ships the word banks, and installed code finds them outside the repo."""

from __future__ import annotations

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_wordbanks_and_installed_code_finds_them(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
    )
    wheel = next(dist.glob("cleanerclip-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for bank in ("adjectives.txt", "relations.txt", "nouns.txt"):
        assert f"cleanerclip_tool/wordbanks/{bank}" in names

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    # --no-deps: the point is where the files land, not re-installing torch.
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(wheel)], check=True)
    probe = (
        "from cleanerclip_tool.resources import wordbanks_dir\n"
        "p = wordbanks_dir()\n"
        "words = [w for w in (p / 'nouns.txt').read_text().splitlines() if w and not w.startswith('#')]\n"
        "print(p)\nprint(len(words))\n"
    )
    out = subprocess.run([str(python), "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True)
    location, count = out.stdout.split()
    assert str(env_dir) in location and str(REPO) not in location
    assert int(count) > 100
