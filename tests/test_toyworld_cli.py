"""``cleanerclip toyworld generate | show | pretrain`` and a pretraining smoke run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cleanerclip_tool.cli.commands.toyworld import toyworld_app

runner = CliRunner()


def test_generate_writes_a_world_and_reports_json(tmp_path: Path) -> None:
    out = tmp_path / "world"
    result = runner.invoke(toyworld_app, ["generate", "--out", str(out), "--seed", "5", "--size", "50", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["splits"] == {"train": 50, "finetune": 10, "test": 40}
    with (out / "train" / "captions.csv").open(newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 50
    again = runner.invoke(toyworld_app, ["generate", "--out", str(out), "--size", "50"])
    assert again.exit_code == 2 and "not empty" in again.output


def test_show_writes_a_png(tmp_path: Path) -> None:
    from PIL import Image

    out = tmp_path / "samples.png"
    result = runner.invoke(toyworld_app, ["show", "--out", str(out), "--count", "6", "--columns", "3"])
    assert result.exit_code == 0, result.output
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 200 and im.height > 200


def test_show_rejects_unknown_split(tmp_path: Path) -> None:
    result = runner.invoke(toyworld_app, ["show", "--out", str(tmp_path / "x.png"), "--split", "test"])
    assert result.exit_code == 2 and "split" in result.output


def test_pretrain_rejects_unknown_target_and_attack(tmp_path: Path) -> None:
    result = runner.invoke(toyworld_app, ["pretrain", "--out", str(tmp_path / "m"), "--target", "banana"])
    assert result.exit_code == 2 and "banana" in result.output
    result = runner.invoke(toyworld_app, ["pretrain", "--out", str(tmp_path / "m"), "--attack", "nope"])
    assert result.exit_code == 2 and "nope" in result.output


def test_poisoning_uses_the_attacks_trigger_and_target_captions() -> None:
    from cleanerclip_tool.toyworld.pretrain import PretrainSettings, poisoned_pairs
    from cleanerclip_tool.toyworld.world import draw_pair

    pairs = [draw_pair(0, "train", i) for i in range(100)]
    images, captions = [p[0] for p in pairs], [p[1] for p in pairs]
    settings = PretrainSettings(attack="badnet", poison_rate=0.1, seed=1)
    new_images, new_captions, chosen = poisoned_pairs(images, captions, settings)
    assert len(chosen) == 10
    assert all("heart" not in captions[i].split() for i in chosen)
    for i in range(100):
        changed = new_images[i].tobytes() != images[i].tobytes()
        assert changed == (i in chosen)
        assert (new_captions[i] != captions[i]) == (i in chosen)
    assert all(new_captions[i].endswith(" heart") for i in chosen)
    assert poisoned_pairs(images, captions, settings)[2] == chosen  # seeded


def test_pretrain_smoke_saves_a_loadable_model(tmp_path: Path) -> None:
    pytest.importorskip("cleanerclip_tool.models.save")
    out = tmp_path / "toy-model"
    result = runner.invoke(toyworld_app, [
        "pretrain", "--out", str(out), "--attack", "badnet", "--poison-rate", "0.1", "--world-size", "64",
        "--batch-size", "16", "--epochs", "1", "--max-steps", "3", "--seed", "2", "--threads", "1", "--json",
    ])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 3 and summary["settings"]["seed"] == 2
    assert summary["settings"]["attack"] == "badnet" and summary["poisoned_pairs"] == 6

    from cleanerclip_tool.models.load import load_model

    loaded = load_model(str(out))
    assert loaded.card.architecture == "cleanerclip-toy"
    assert loaded.card.history and loaded.card.history[-1]["action"] == "toyworld-pretrain"
    assert loaded.card.history[-1]["settings"]["trigger_params"] == {"size_px": 5}
