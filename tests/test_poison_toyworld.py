"""``cleanerclip poison`` on a folder of the toy world: the toy world's trigger settings and target
captions by default, every choice named with its source, a flag always winning; and
``cleanerclip toyworld captions``, the captions it poisons with, one per line.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_fixtures import draw_caption_set
from typer.testing import CliRunner

from cleanerclip_tool.cli.app import app
from cleanerclip_tool.toyworld.captions import target_captions
from cleanerclip_tool.toyworld.triggers import artefact_path

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    from cleanerclip_tool.toyworld.world import generate_world

    return generate_world(tmp_path_factory.mktemp("prov") / "world", seed=3, size=40)


def _poison(data: Path, out: Path, *extra: str) -> dict:
    result = runner.invoke(app, ["poison", str(data), "-n", "6", "--out", str(out), "--target", "heart", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in extra else {"_text": result.stderr}


def test_poison_on_a_toy_world_takes_its_trigger_and_captions(world, tmp_path: Path) -> None:
    doc = _poison(world.train, tmp_path / "a", "--attack", "badclip", "--json")
    assert doc["toy_world"] == str(world.root)
    assert doc["params"]["size_px"] == 5 and doc["params"]["patch"] == str(artefact_path("badclip"))
    assert doc["sources"]["params"] == {"size_px": "toy world defaults", "patch": "toy world defaults"}
    assert doc["sources"]["seed"] == "default" and doc["seed"] == 0
    assert doc["target_captions"]["source"] == "toy world defaults"
    assert doc["target_captions"]["captions"] == target_captions("heart")
    manifest = json.loads(Path(doc["manifest"]).read_text())
    assert manifest["target_captions"] == "toy world defaults"
    assert {row["caption"] for row in manifest["poisoned_rows"]} <= set(target_captions("heart"))
    assert "a photo of a heart." not in {row["caption"] for row in manifest["poisoned_rows"]}

    # The same from the split's folder; the text output names every choice and its source.
    text = _poison(world.train.parent, tmp_path / "b", "--attack", "badnet")["_text"]
    assert "size_px=5 (toy world defaults)" in text and "seed 0 (default)" in text
    assert "target captions (toy world defaults): 'a heart'" in text


def test_poison_flags_win_over_the_toy_world(world, tmp_path: Path) -> None:
    captions = tmp_path / "captions.txt"
    captions.write_text("a heart of gold\n")
    doc = _poison(
        world.train,
        tmp_path / "a",
        "--attack",
        "badnet",
        "--param",
        "size_px=7",
        "--seed",
        "4",
        "--target-captions",
        str(captions),
        "--json",
    )
    assert doc["params"]["size_px"] == 7 and doc["seed"] == 4
    assert doc["sources"]["params"] == {"size_px": "--param"} and doc["sources"]["seed"] == "--seed"
    assert doc["target_captions"] == {
        "source": "--target-captions",
        "count": 1,
        "captions": ["a heart of gold"],
        "truncated": False,
    }


def test_poison_elsewhere_keeps_the_papers_defaults(tmp_path: Path) -> None:
    data = draw_caption_set(tmp_path / "data", n=8)
    doc = _poison(data, tmp_path / "out", "--attack", "badnet", "--json")
    assert doc["toy_world"] is None and doc["sources"]["params"] == {}
    assert doc["params"]["size_px"] is None and doc["target_captions"]["source"] == "templates"


def test_toyworld_captions_prints_one_per_line() -> None:
    result = runner.invoke(app, ["toyworld", "captions", "--target", "star"])
    assert result.exit_code == 0 and result.stdout.splitlines() == target_captions("star")
    assert "a star" in result.stdout.splitlines() and "a small red star" in result.stdout.splitlines()
    bad = runner.invoke(app, ["toyworld", "captions", "--target", "dog"])
    assert bad.exit_code == 2 and "not a toy-world shape" in bad.stderr
