"""``cleanerclip toyworld victim``: the paper's victim (a clean model fine-tuned on a poisoned set)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cleanerclip_tool.cli.commands.toyworld import toyworld_app
from cleanerclip_tool.toyworld.victim import VICTIM_RECIPES, VictimSettings

runner = CliRunner()


def test_settings_take_the_recipe_rate_and_reject_bad_input() -> None:
    assert VictimSettings(attack="badnet").rate == VICTIM_RECIPES["badnet"]["poison_rate"]
    assert VictimSettings(attack="badnet", poison_rate=0.2).rate == 0.2
    recorded = VictimSettings(attack="sig", seed=4).to_dict()
    assert recorded["trigger_seed"] == 4 and recorded["trigger_params"]["frequency"] == 4.0
    assert recorded["poison_rate"] == VICTIM_RECIPES["sig"]["poison_rate"]
    from cleanerclip_tool.errors import BadInputError

    with pytest.raises(BadInputError, match="poison rate"):
        VictimSettings(attack="badnet", poison_rate=1.5).validate()
    with pytest.raises(BadInputError, match="banana"):
        VictimSettings(attack="badnet", target="banana").validate()


def test_unknown_attack_and_non_empty_out_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(toyworld_app, ["victim", "--attack", "nope", "--out", str(tmp_path / "v")])
    assert result.exit_code == 2 and "nope" in result.output
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    result = runner.invoke(toyworld_app, ["victim", "--attack", "badnet", "--out", str(tmp_path / "full")])
    assert result.exit_code == 2 and "not empty" in result.output
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"


def test_victim_smoke_records_its_attack_for_the_scan(tmp_path: Path) -> None:
    """A few attacker steps from toy:clean: the card keeps toy:clean's history, adds the attack with
    rate, schedule, trigger parameters and seed, and the scan's trigger defaults come from it."""
    out = tmp_path / "victim"
    args = ["victim", "--attack", "blended", "--out", str(out), "--seed", "3", "--poison-rate", "0.25"]
    args += ["--world-size", "48", "--batch-size", "16", "--max-steps", "2", "--threads", "1", "--json"]
    result = runner.invoke(toyworld_app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["action"] == "toyworld-victim" and doc["poisoned_pairs"] == 12 and doc["steps"] == 2
    card = json.loads((out / "cleanerclip_card.json").read_text())
    actions = [h.get("action") for h in card["history"]]
    assert actions[-2:] == ["toyworld-pretrain", "toyworld-victim"]
    settings = card["history"][-1]["settings"]
    assert settings["attack"] == "blended" and settings["poison_rate"] == 0.25 and settings["trigger_seed"] == 3
    assert settings["base"] == "toy:clean" and settings["epochs"] == 5 and settings["trigger_params"] == {"alpha": 0.2}

    from cleanerclip_tool.app.defaults import trigger_defaults
    from cleanerclip_tool.models.load import load_model

    loaded = load_model(str(out))
    params, seed = trigger_defaults(loaded.card, "blended")
    assert seed == 3 and params["alpha"] == 0.2
