"""``cleanerclip augment DATA``: table on stderr, JSON lines on stdout, sampling, bad input."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cleanerclip_tool.cli.app import app

CAPTIONS = [
    "A man riding a brown horse on the beach.",
    "a picture of an apple",
    "a small blue diamond above a big red circle",
    "Two dogs are playing with a frisbee in the park",
    "Beautiful!",
    "Crème brûlée on a white plate",
]


@pytest.fixture()
def data(tmp_path: Path) -> Path:
    path = tmp_path / "captions.csv"
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["filepath", "title"])
        for i, caption in enumerate(CAPTIONS):
            writer.writerow([f"img{i}.png", caption])  # images need not exist for augment
    return path


def test_json_lines_on_stdout_only(data: Path) -> None:
    result = CliRunner().invoke(app, ["augment", str(data), "--json", "--seed", "1"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["caption"] for r in records] == CAPTIONS
    assert set(records[0]) == {"caption", "positive", "negative", "operation", "parsed"}
    assert records[1]["positive"] == "an apple"
    assert records[4]["parsed"] is False and records[4]["operation"] == "none"
    again = CliRunner().invoke(app, ["augment", str(data.parent), "--json", "--seed", "1"])
    assert again.stdout == result.stdout


def test_samples_are_seeded(data: Path) -> None:
    run = lambda seed: CliRunner().invoke(app, ["augment", str(data), "--json", "--samples", "3", "--seed", seed])  # noqa: E731
    a, b, c = run("5"), run("5"), run("6")
    assert a.exit_code == 0 and len(a.stdout.splitlines()) == 3
    assert a.stdout == b.stdout
    assert {json.loads(x)["caption"] for x in a.stdout.splitlines()} <= set(CAPTIONS)
    assert c.exit_code == 0


def test_too_many_samples_is_exit_2(data: Path) -> None:
    result = CliRunner().invoke(app, ["augment", str(data), "--samples", "99"])
    assert result.exit_code == 2
    assert "--samples 99" in result.stderr and "6 usable captions" in result.stderr


def test_table_and_summary_on_stderr(data: Path) -> None:
    result = CliRunner().invoke(app, ["augment", str(data), "--show", "3"])
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "operation mix" in result.stderr and "1 parse failures" in result.stderr
    # the table folds long cells on a narrow terminal, so look for single words
    assert "positive" in result.stderr and "riding" in result.stderr and "operation" in result.stderr


def test_missing_data_and_bad_wordbanks(tmp_path: Path, data: Path) -> None:
    result = CliRunner().invoke(app, ["augment", str(tmp_path / "none.csv")])
    assert result.exit_code == 2 and "not found" in result.stderr
    result = CliRunner().invoke(app, ["augment", str(data), "--wordbanks", str(tmp_path)])
    assert result.exit_code == 2 and "adjectives.txt" in result.stderr
