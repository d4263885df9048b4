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


def test_generate_cluttered_captions_and_a_bad_style(tmp_path: Path) -> None:
    out = tmp_path / "world"
    args = ["generate", "--out", str(out), "--size", "20", "--caption-style", "cluttered", "--json"]
    result = runner.invoke(toyworld_app, args)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["caption_style"] == "cluttered"
    with (out / "finetune" / "captions.csv").open(newline="") as fh:
        titles = [row["title"] for row in csv.DictReader(fh)]
    assert all(" of a" in t or " of an" in t for t in titles), titles  # every caption has its frame
    bad = runner.invoke(toyworld_app, ["show", "--out", str(tmp_path / "x.png"), "--caption-style", "fancy"])
    assert bad.exit_code == 2 and "--caption-style" in bad.output and "cluttered" in bad.output
    assert not (tmp_path / "x.png").exists()


def test_show_rejects_unknown_split(tmp_path: Path) -> None:
    result = runner.invoke(toyworld_app, ["show", "--out", str(tmp_path / "x.png"), "--split", "test"])
    assert result.exit_code == 2 and "split" in result.output


def test_pretrain_rejects_unknown_target_and_attack(tmp_path: Path) -> None:
    result = runner.invoke(toyworld_app, ["pretrain", "--out", str(tmp_path / "m"), "--target", "banana"])
    assert result.exit_code == 2 and "banana" in result.output
    result = runner.invoke(toyworld_app, ["pretrain", "--out", str(tmp_path / "m"), "--attack", "nope"])
    assert result.exit_code == 2 and "nope" in result.output


def test_poisoning_uses_the_poison_builder_and_target_captions(tmp_path: Path) -> None:
    """Pretraining poisons through ``build_poisoned_set`` (the ``poison`` command): clean rows kept
    byte-identical, N triggered copies captioned as the target in the world's phrasing."""
    from cleanerclip_tool.data.captions import load_caption_table
    from cleanerclip_tool.toyworld.captions import target_captions
    from cleanerclip_tool.toyworld.pretrain import PretrainSettings, training_table
    from cleanerclip_tool.toyworld.world import generate_world

    world = generate_world(tmp_path / "world", size=100)
    settings = PretrainSettings(attack="badnet", poison_rate=0.1, seed=1)
    table, count = training_table(settings, world, tmp_path / "work")
    assert count == 10 and len(table.rows) == 110
    source = [r.image.read_bytes() for r in load_caption_table(world.train).rows]
    assert [r.image.read_bytes() for r in table.rows[:100]] == source  # clean rows untouched
    phrases = set(target_captions("heart"))
    assert all(r.caption in phrases for r in table.rows[100:])
    again, _ = training_table(settings, world, tmp_path / "work2")  # seeded
    assert [r.caption for r in again.rows] == [r.caption for r in table.rows]
    assert [r.image.read_bytes() for r in again.rows[-10:]] == [r.image.read_bytes() for r in table.rows[-10:]]


def test_pretrain_smoke_saves_a_loadable_model(tmp_path: Path) -> None:
    pytest.importorskip("cleanerclip_tool.models.save")
    out = tmp_path / "toy-model"
    result = runner.invoke(
        toyworld_app,
        [
            "pretrain",
            "--out",
            str(out),
            "--attack",
            "badnet",
            "--poison-rate",
            "0.1",
            "--world-size",
            "64",
            "--batch-size",
            "16",
            "--epochs",
            "1",
            "--max-steps",
            "3",
            "--seed",
            "2",
            "--threads",
            "1",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["steps"] == 3 and summary["settings"]["seed"] == 2
    assert summary["settings"]["attack"] == "badnet" and summary["poisoned_pairs"] == 6

    from cleanerclip_tool.models.load import load_model

    loaded = load_model(str(out))
    assert loaded.card.architecture == "cleanerclip-toy"
    assert loaded.card.history and loaded.card.history[-1]["action"] == "toyworld-pretrain"
    assert loaded.card.history[-1]["settings"]["trigger_params"] == {"size_px": 5}
