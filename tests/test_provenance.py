"""Provenance: which trigger a model learnt, carried by its card to every descendant, and what the
scan says about where its trigger settings came from.

* ``purify`` on a folder ``poison`` wrote records the poisoning in the card; a descendant's scan
  (toy or not) tests that very trigger, unless ``--param`` / ``--seed`` say otherwise.
* ``scan --reference MODEL`` scans a clean model with the same triggers, images and targets.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from engine_fixtures import draw_caption_set, tiny_loaded
from test_scan import make_eval_folder
from typer.testing import CliRunner

from cleanerclip_tool.app.defaults import ORIGIN_ATTACK, ORIGIN_CARD, ORIGIN_TOY, resolve_trigger_defaults
from cleanerclip_tool.app.triggers import plan_triggers
from cleanerclip_tool.attacks.provenance import recorded_trigger
from cleanerclip_tool.cli.app import app
from cleanerclip_tool.toyworld.triggers import artefact_path, toy_params, toy_trigger_defaults

pytestmark = pytest.mark.usefixtures("one_torch_thread")
runner = CliRunner()
NON_TOY = {"kind": "file", "architecture": "RN50", "model_cfg": {"embed_dim": 1024}}
TOY = {"kind": "toy", "architecture": "custom", "model_cfg": {}}
FAST_SCAN = ["--device", "cpu", "--workers", "0", "--topk", "1", "--threads", "1", "--json"]


def _card(history: list[dict], **kind: object) -> SimpleNamespace:
    return SimpleNamespace(**(kind or NON_TOY), history=history)


def _victim(attack: str, params: dict, *, seed: int = 0, trigger_seed: int | None = None) -> dict:
    """A history entry as the toy world's victims record theirs."""
    settings = {"attack": attack, "trigger_params": params, "seed": seed, "target": "heart"}
    if trigger_seed is not None:
        settings["trigger_seed"] = trigger_seed
    return {"action": "toyworld-victim", "saved": "2026-01-02T00:00:00+00:00", "settings": settings}


def _purify_args(model: Path | str, data: Path, out: Path) -> list[str]:
    return [
        "purify",
        str(model),
        "--data",
        str(data),
        "--out",
        str(out),
        "--method",
        "ft",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--warmup",
        "1",
        "--workers",
        "0",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--json",
    ]


def _poison(data: Path, out: Path, *extra: str) -> dict:
    result = runner.invoke(app, ["poison", str(data), "-n", "6", "--out", str(out), "--target", "heart", *extra])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout) if "--json" in extra else {"_text": result.stderr}


# -- the history lookup --------------------------------------------------------------------------


def test_the_newest_record_wins_and_trigger_seed_beats_seed() -> None:
    history = [
        {"action": "toyworld-pretrain", "settings": {"attack": "badnet", "trigger_params": {"size_px": 5}, "seed": 0}},
        {"action": "purify", "method": "cleanclip"},  # a later purification records no attack
        _victim("badnet", {"size_px": 7}, seed=3, trigger_seed=11),
    ]
    record = recorded_trigger(history, "badnet")
    assert record is not None and record.action == "toyworld-victim"
    assert record.params == {"size_px": 7} and record.seed == 11  # trigger_seed, not the run's seed
    assert recorded_trigger(history[:2], "badnet").seed == 0  # only `seed`: that one
    assert recorded_trigger(history, "sig") is None and recorded_trigger(None, "badnet") is None
    params, seed = toy_trigger_defaults(_card(history, **TOY), "badnet")
    assert params["size_px"] == 7 and seed == 11


def test_defaults_say_where_they_came_from(tmp_path: Path) -> None:
    toy = resolve_trigger_defaults(_card([_victim("badnet", {"size_px": 7})], **TOY), "badnet")
    assert toy.origin == ORIGIN_CARD and toy.params["size_px"] == 7
    assert toy.describe() == "model card (poisoned by toyworld-victim, target heart)"
    assert resolve_trigger_defaults(_card([], **TOY), "sig").origin == ORIGIN_TOY
    assert resolve_trigger_defaults(_card([]), "sig").origin == ORIGIN_ATTACK

    # A non-toy model takes a record that needs no artefact, or whose artefact is here.
    missing = _victim("badclip", {"patch": str(tmp_path / "gone.png"), "size_px": 9})
    assert resolve_trigger_defaults(_card([missing]), "badclip").origin == ORIGIN_ATTACK
    patch = tmp_path / "patch.png"
    patch.write_bytes(artefact_path("badclip").read_bytes())
    here = resolve_trigger_defaults(_card([_victim("badclip", {"patch": str(patch), "size_px": 9})]), "badclip")
    assert here.origin == ORIGIN_CARD and here.params == {"patch": str(patch), "size_px": 9}
    # A toy model keeps the record's settings and falls back to the shipped artefact.
    toy_badclip = resolve_trigger_defaults(_card([missing], **TOY), "badclip")
    assert toy_badclip.params["patch"] == str(artefact_path("badclip")) and toy_badclip.params["size_px"] == 9


def test_flags_win_over_the_card_and_the_plan_says_so() -> None:
    card = _card([_victim("badnet", {"size_px": 7}, trigger_seed=11)], **TOY)
    plan = plan_triggers(card, ["badnet", "sig"], seed=0)
    badnet, sig = plan.triggers
    assert (badnet.seed, badnet.describe()["params"]["size_px"]) == (11, 7)
    assert sig.seed == 0 and sig.describe()["params"]["frequency"] == toy_params("sig")["frequency"]
    assert plan.sources["badnet"]["origin"] == "model card" and plan.sources["sig"]["origin"] == "toy world defaults"
    assert plan.sources["badnet"]["record"]["action"] == "toyworld-victim"

    flagged = plan_triggers(card, ["badnet"], overrides={"badnet": {"size_px": 4}}, trigger_seed=2)
    (badnet,) = flagged.triggers
    assert (badnet.seed, badnet.describe()["params"]["size_px"]) == (2, 4)
    source = flagged.sources["badnet"]
    assert source["origin"] == "flags" and source["flags"] == ["--param", "--seed"]
    assert source["text"] == "flags (--param, --seed) over model card (poisoned by toyworld-victim, target heart)"


# -- purify records the poisoning; descendants are scanned with it --------------------------------


def test_poisoning_record_needs_the_manifests_own_table(tmp_path: Path) -> None:
    from cleanerclip_tool.attacks import get_trigger
    from cleanerclip_tool.attacks.poison import build_poisoned_set, poisoning_record
    from cleanerclip_tool.data.captions import load_caption_table

    data = draw_caption_set(tmp_path / "data", n=6)
    out = build_poisoned_set(
        load_caption_table(data), get_trigger("badnet", seed=9, size_px=3), "heart", 2, tmp_path / "p", seed=1
    )
    record = poisoning_record(out / "captions.csv")
    assert record is not None and (record["attack"], record["target"], record["count"]) == ("badnet", "heart", 2)
    assert record["trigger_params"]["size_px"] == 3 and (record["seed"], record["trigger_seed"]) == (1, 9)
    assert poisoning_record(data / "captions.csv") is None  # no manifest: clean data
    with (out / "captions.csv").open("a") as fh:
        fh.write("clean/img/000.png,an edited row,0\n")
    assert poisoning_record(out / "captions.csv") is None  # not the table the manifest describes


def test_a_non_toy_descendant_is_scanned_with_the_recorded_trigger(tmp_path: Path) -> None:
    from cleanerclip_tool.models.save import save_model

    loaded = tiny_loaded()
    model = save_model(loaded.model, tmp_path / "model", loaded.card)
    data = draw_caption_set(tmp_path / "data", n=16)
    poisoned = tmp_path / "poisoned"
    doc = _poison(data, poisoned, "--attack", "badnet", "--param", "size_px=3", "--seed", "5", "--json")
    assert doc["params"]["size_px"] == 3

    # Poisoned by fine-tuning on the set, then "purified" on clean data: the card keeps the record.
    first = runner.invoke(app, _purify_args(model, poisoned, tmp_path / "run1"))
    assert first.exit_code == 0, first.output
    second = runner.invoke(app, _purify_args(json.loads(first.stdout)["model"], data, tmp_path / "run2"))
    assert second.exit_code == 0, second.output
    descendant = Path(json.loads(second.stdout)["model"])
    card = json.loads((descendant / "cleanerclip_card.json").read_text())
    assert [h.get("poisoning", {}).get("attack") for h in card["history"]] == ["badnet", None]
    assert "### Poisoning in that data" in (Path(json.loads(first.stdout)["model"]) / "README.md").read_text()

    ev = make_eval_folder(tmp_path / "ev", per_class=2)
    base = ["scan", str(descendant), "--eval-data", str(ev), "--attack", "badnet", *FAST_SCAN]
    result = runner.invoke(app, base)
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["results"]
    assert row["params"]["size_px"] == 3 and row["seed"] == 5  # the poisoning's, not the paper's 16/224
    assert row["trigger_source"]["origin"] == "model card"
    assert row["trigger_source"]["text"] == "model card (poisoned by training on poisoned, target heart)"

    flagged = runner.invoke(app, [*base, "--seed", "8", "--param", "badnet.size_px=2"])
    (row,) = json.loads(flagged.stdout)["results"]
    assert (row["params"]["size_px"], row["seed"], row["trigger_source"]["origin"]) == (2, 8, "flags")


def test_a_toy_descendant_of_a_victim_keeps_its_trigger(tmp_path: Path) -> None:
    """A toy victim poisoned with non-default settings, purified: the scan uses those settings."""
    from cleanerclip_tool.models.load import load_model
    from cleanerclip_tool.models.save import save_model

    clean = load_model("toy:clean")
    victim = save_model(
        clean.model,
        tmp_path / "victim",
        clean.card,
        notes=_victim("wanet", {"k": 3, "s": 1.5}, seed=1, trigger_seed=23),
    )
    data = draw_caption_set(tmp_path / "data", n=16)
    purified = runner.invoke(app, _purify_args(victim, data, tmp_path / "run"))
    assert purified.exit_code == 0, purified.output
    ev = make_eval_folder(tmp_path / "ev", per_class=2)
    result = runner.invoke(
        app,
        ["scan", json.loads(purified.stdout)["model"], "--eval-data", str(ev), "--attack", "wanet,sig", *FAST_SCAN],
    )
    assert result.exit_code == 0, result.output
    wanet, sig = json.loads(result.stdout)["results"]
    assert (wanet["params"]["k"], wanet["params"]["s"], wanet["seed"]) == (3, 1.5, 23)
    assert wanet["trigger_source"]["text"] == "model card (poisoned by toyworld-victim, target heart)"
    assert sig["params"]["frequency"] == toy_params("sig")["frequency"] and sig["seed"] == 0
    assert sig["trigger_source"]["origin"] == "toy world defaults"


# -- scan --reference: the clean floor -----------------------------------------------------------


def test_reference_is_scanned_with_the_same_triggers_and_targets(tmp_path: Path) -> None:
    ev = make_eval_folder(tmp_path / "ev", per_class=3)
    args = ["scan", "toy:badnet", "--eval-data", str(ev), "--attack", "badnet,sig", "--reference", "toy:clean"]
    result = runner.invoke(app, [*args, *FAST_SCAN, "--seed", "6"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    reference = doc["reference"]
    assert reference["spec"] == "toy:clean" and reference["model"]["source"] == "toy:clean"
    assert reference["eval_data"] == doc["eval_data"] and reference["templates"] == doc["templates"]
    assert [r["attack"] for r in reference["results"]] == ["badnet", "sig"]
    for mine, ref in zip(doc["results"], reference["results"], strict=True):
        assert set(ref) == set(mine)  # the same schema
        assert (ref["params"], ref["seed"], ref["n_clean"]) == (mine["params"], mine["seed"], mine["n_clean"])
        assert ref["target"] == ref["asr_target"] == mine["asr_target"]  # toward the model's (discovered) target
        assert ref["seed"] == 6
    assert doc["results"][0]["trigger_source"]["origin"] == "flags"

    text = runner.invoke(app, [*args, "--device", "cpu", "--workers", "0", "--threads", "1"])
    assert text.exit_code == 0, text.output
    lines = text.stderr.splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("attack"))
    assert lines[at - 1].split() == ["ref"] and "ref: toy:clean (BA@1" in text.stderr
    assert "triggers of badnet: model card (poisoned by toyworld-victim, target heart)." in text.stderr
    assert "triggers of sig: toy world defaults." in text.stderr

    bad = runner.invoke(app, [*args[:-1], "toy:no-such-model", "--device", "cpu"])
    assert bad.exit_code == 2 and "no-such-model" in bad.stderr
