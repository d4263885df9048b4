"""The scan end to end on a tiny random model over a tiny ImageFolder: structure, schema, CLI.

A random model's numbers mean nothing; these tests check what the report holds and that every
rate is a fraction computed over the right images. The backdoored-model checks are in
``test_scan_backdoor.py``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cleanerclip_tool.errors import BadInputError, DataError

CLASSES = ["circle", "square", "heart", "star"]
SCHEMA_TOP = {"model", "eval_data", "results"}
SCHEMA_ROW = {
    "attack",
    "params",
    "target",
    "n_clean",
    "n_triggered",
    "ba",
    "asr",
    "discovered_target",
    "discovered_share",
    "seconds",
}


def make_eval_folder(root: Path, per_class: int = 3, size: int = 32) -> Path:
    rng = np.random.default_rng(0)
    for c in range(len(CLASSES)):
        (root / f"c{c}").mkdir(parents=True)
        for i in range(per_class):
            noise = rng.integers(0, 30, (size, size, 3), dtype=np.uint8)
            arr = np.full((size, size, 3), 40 * c, dtype=np.uint8) + noise
            Image.fromarray(arr).save(root / f"c{c}" / f"{i}.png")
    (root / "classnames.txt").write_text("".join(f"c{c}\t{n}\n" for c, n in enumerate(CLASSES)))
    (root / "templates.txt").write_text("a photo of a {}.\na drawing of a {}.\n")
    return root


@pytest.fixture(scope="module")
def tiny_loaded():
    from tiny import make_tiny_model, tiny_cfg

    from cleanerclip_tool.models.load import build_loaded_model

    return build_loaded_model(tiny_cfg(), make_tiny_model(0), source="tiny", kind="file")


def check_schema(doc: dict, attacks: list[str], ks: list[str]) -> None:
    assert set(doc) >= SCHEMA_TOP
    assert [r["attack"] for r in doc["results"]] == attacks
    for row in doc["results"]:
        assert set(row) >= SCHEMA_ROW
        assert set(row["ba"]) == set(ks) and set(row["asr"]) == set(ks)
        for value in [*row["ba"].values(), *row["asr"].values(), row["discovered_share"]]:
            assert value is None or 0.0 <= value <= 1.0
        for k in ks:  # a Top-k beyond the number of classes is no rate: null, not a trivial 100%
            assert (row["ba"][k] is None) == (int(k) > len(CLASSES))
        assert row["discovered_target"] in CLASSES
        assert isinstance(row["params"], dict) and row["seconds"] >= 0


def test_scan_library_report(tmp_path: Path, tiny_loaded) -> None:
    from cleanerclip_tool.attacks import get_trigger
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.eval.scan import scan

    eval_set = load_eval_set(make_eval_folder(tmp_path / "ev"))
    assert eval_set.classnames == CLASSES and eval_set.templates == ["a photo of a {}.", "a drawing of a {}."]
    events = []
    report = scan(
        tiny_loaded,
        eval_set,
        [get_trigger("badnet"), get_trigger("sig")],
        target="heart",
        topk=(1, 3),
        batch_size=5,
        on_event=events.append,
    )
    doc = json.loads(json.dumps(report.to_dict()))
    check_schema(doc, ["badnet", "sig"], ["1", "3"])
    row = doc["results"][0]
    assert row["target"] == "heart" and row["n_clean"] == 12 and row["n_triggered"] == 9  # heart images left out
    assert row["ba"] == doc["results"][1]["ba"]  # one clean pass shared by every attack
    assert doc["asr_convention"] == "exclude"
    assert any(type(e).__name__ == "TaskProgress" for e in events)
    # BadCLIP's convention counts all triggered images
    incl = scan(tiny_loaded, eval_set, [get_trigger("badnet")], target="heart", topk=(1,), asr_convention="include")
    assert incl.results[0].n_triggered == 12
    # auto: ASR is measured toward the discovered class, and the target field stays null
    auto = scan(tiny_loaded, eval_set, [get_trigger("badnet")], target=None, topk=(1, 10), limit=7, seed=1)
    r = auto.results[0]
    assert r.target is None and r.asr_target == r.discovered_target and r.n_clean == 7
    assert r.ba["10"] is None  # k beyond the 4 classes is no rate (JSON null), not a trivial 100%


def test_scan_rejects_bad_target_and_topk(tmp_path: Path, tiny_loaded) -> None:
    from cleanerclip_tool.attacks import get_trigger
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.eval.scan import scan

    eval_set = load_eval_set(make_eval_folder(tmp_path / "ev"))
    with pytest.raises(DataError, match="not a class"):
        scan(tiny_loaded, eval_set, [get_trigger("badnet")], target="banana")
    with pytest.raises(BadInputError):
        scan(tiny_loaded, eval_set, [get_trigger("badnet")], topk=(0,))


def test_eval_set_names_and_wnids(tmp_path: Path) -> None:
    from cleanerclip_tool.eval.evalset import load_eval_set

    root = tmp_path / "plain"
    for name in ("golden_retriever", "tabby_cat"):
        (root / name).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(root / name / "a.jpg")
    ev = load_eval_set(root)
    assert ev.classnames == ["golden retriever", "tabby cat"] and ev.templates is None
    assert ev.class_index("Tabby Cat") == 1 and ev.class_index("golden_retriever") == 0
    wn = tmp_path / "wn"
    for wnid in ("n01440764", "n01443537"):
        (wn / wnid).mkdir(parents=True)
        Image.new("RGB", (8, 8)).save(wn / wnid / "a.png")
    with pytest.raises(DataError, match="wnid"):
        load_eval_set(wn)
    names = tmp_path / "names.txt"
    names.write_text("n01443537\tgoldfish\nn01440764\ttench\n")
    assert load_eval_set(wn, classnames_file=names).classnames == ["tench", "goldfish"]
    with pytest.raises(DataError):
        load_eval_set(tmp_path / "missing")


def test_imagenet_wnid_folders_map_to_open_clip_names(tmp_path: Path) -> None:
    from open_clip.zero_shot_metadata import IMAGENET_CLASSNAMES

    from cleanerclip_tool.eval.evalset import load_eval_set

    root = tmp_path / "imagenet"
    # 1000 synthetic wnids in sorted order stand in for the real ones; only the order matters
    wnids = [f"n{10000000 + i:08d}" for i in range(1000)]
    for wnid in wnids:
        (root / wnid).mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(root / wnids[0] / "a.png")
    ev = load_eval_set(root)
    assert ev.classnames[0] == IMAGENET_CLASSNAMES[0] and ev.classnames[-1] == IMAGENET_CLASSNAMES[-1]


# --- CLI ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, tiny_loaded) -> Path:
    from cleanerclip_tool.models.save import save_model

    out = tmp_path_factory.mktemp("model") / "tiny"
    save_model(tiny_loaded.model, out, tiny_loaded.card)
    return out


@pytest.fixture(scope="module")
def cli_app():
    from cleanerclip_tool.cli.app import app
    from cleanerclip_tool.cli.commands import scan as scan_cmd

    if "scan" not in [c.name for c in app.registered_commands]:
        scan_cmd.register(app)
    return app


def test_scan_cli_json_matches_schema(tmp_path: Path, tiny_folder: Path, cli_app) -> None:
    ev = make_eval_folder(tmp_path / "ev")
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        cli_app,
        [
            "scan",
            str(tiny_folder),
            "--eval-data",
            str(ev),
            "--attack",
            "badnet,blended",
            "--topk",
            "1,3,5,10",
            "--json",
            "--out",
            str(out),
            "--device",
            "cpu",
            "--param",
            "badnet.size_px=5",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    check_schema(doc, ["badnet", "blended"], ["1", "3", "5", "10"])
    assert doc["results"][0]["params"]["size_px"] == 5
    assert doc["results"][0]["target"] is None  # auto by default
    assert json.loads(out.read_text())["results"] == doc["results"]


def test_scan_cli_table_and_errors(tmp_path: Path, tiny_folder: Path, cli_app) -> None:
    ev = make_eval_folder(tmp_path / "ev")
    runner = CliRunner()
    table = runner.invoke(
        cli_app,
        [
            "scan",
            str(tiny_folder),
            "--eval-data",
            str(ev),
            "--attack",
            "wanet",
            "--target",
            "heart",
            "--topk",
            "1,3",
            "--device",
            "cpu",
        ],
    )
    assert table.exit_code == 0, table.output
    assert "ASR@3" in table.output and "wanet" in table.output
    assert runner.invoke(cli_app, ["scan", str(tiny_folder), "--eval-data", str(ev), "--attack", "nope"]).exit_code == 2
    assert runner.invoke(cli_app, ["scan", str(tiny_folder), "--eval-data", str(ev), "--topk", "0"]).exit_code == 2
    assert runner.invoke(cli_app, ["scan", str(tiny_folder), "--eval-data", str(ev), "--target", "x"]).exit_code == 2
    assert (
        runner.invoke(cli_app, ["scan", str(tiny_folder), "--attack", "custom", "--eval-data", str(ev)]).exit_code == 2
    )  # custom needs --trigger
    missing = runner.invoke(cli_app, ["scan", str(tiny_folder), "--attack", "badnet"])
    assert missing.exit_code == 2 and "--eval-data is required" in missing.output


def test_scan_all_on_a_non_toy_model_skips_attacks_that_need_artefacts(
    tmp_path: Path, tiny_folder: Path, cli_app
) -> None:
    ev = make_eval_folder(tmp_path / "ev")
    args = ["scan", str(tiny_folder), "--eval-data", str(ev), "--device", "cpu", "--limit", "4"]
    result = CliRunner().invoke(cli_app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert [r["attack"] for r in doc["results"]] == ["badnet", "blended", "sig", "wanet"]
    assert [s["attack"] for s in doc["skipped"]] == ["ssba", "badclip"]
    assert "trigger train-ssba" in doc["skipped"][0]["howto"]
    named = CliRunner().invoke(cli_app, [*args, "--attack", "badnet,ssba"])  # named, not skipped: refused
    assert named.exit_code == 2 and "ssba needs a trigger artefact" in named.output


def test_scan_without_model_scans_the_last_purified_one(
    tmp_path: Path, tiny_folder: Path, cli_app, monkeypatch
) -> None:
    from cleanerclip_tool.app.recent import record_last_purified

    # A cache of its own: the record is per user, and runs in other test processes write theirs.
    monkeypatch.setenv("CLEANERCLIP_CACHE", str(tmp_path / "cache"))
    ev = make_eval_folder(tmp_path / "ev")
    args = ["scan", "--attack", "badnet", "--eval-data", str(ev), "--device", "cpu", "--limit", "4"]
    none = CliRunner().invoke(cli_app, args)
    assert none.exit_code == 2 and "no MODEL given" in none.output and "cleanerclip scan MODEL" in none.output
    record_last_purified(tiny_folder)
    result = CliRunner().invoke(cli_app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    assert f"scanning the last purified model: {tiny_folder.resolve()}" in result.stderr
    assert json.loads(result.stdout)["results"][0]["attack"] == "badnet"


def test_scan_templates_from_a_file_beside_a_read_only_eval_folder(tmp_path: Path, tiny_folder: Path, cli_app) -> None:
    ev = make_eval_folder(tmp_path / "ev")
    (ev / "templates.txt").unlink()
    mine = tmp_path / "my-templates.txt"
    mine.write_text("a sketch of a {}.\n")
    args = ["scan", str(tiny_folder), "--eval-data", str(ev), "--attack", "badnet", "--device", "cpu", "--json"]
    result = CliRunner().invoke(cli_app, [*args, "--templates", str(mine)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["templates"] == str(mine)
    bad = CliRunner().invoke(cli_app, [*args, "--templates", str(tmp_path / "none.txt")])
    assert bad.exit_code == 2 and "templates file" in bad.output
