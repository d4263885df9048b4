from __future__ import annotations

import json
from pathlib import Path

import pytest
from engine_fixtures import draw_caption_set, tiny_loaded
from typer.testing import CliRunner

from cleanerclip_tool.cli.app import app
from cleanerclip_tool.models.save import save_model

runner = CliRunner()


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("cli")
    loaded = tiny_loaded()
    model = save_model(loaded.model, tmp / "model", loaded.card)
    data = draw_caption_set(tmp / "data", n=24)
    return model, data


def _args(model: Path, data: Path, out: Path, *extra: str) -> list[str]:
    return [
        "purify",
        str(model),
        "--data",
        str(data),
        "--out",
        str(out),
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--lr",
        "1e-3",
        "--warmup",
        "1",
        "--workers",
        "0",
        *extra,
    ]


@pytest.mark.parametrize("method", ["ft", "cleanerclip"])
def test_purify_json_summary(setup, tmp_path: Path, method: str) -> None:
    model, data = setup
    result = runner.invoke(app, _args(model, data, tmp_path / "out", "--method", method, "--samples", "8", "--json"))
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) >= {"out", "method", "epochs", "steps", "seconds", "samples_per_second", "final_losses", "config"}
    assert doc["method"] == method and doc["steps"] == 3
    assert set(doc["final_losses"]) == {"clip", "inmodal", "cfa"}
    assert (doc["final_losses"]["cfa"] is not None) == (method == "cleanerclip")
    card = json.loads((Path(doc["out"]) / "model" / "cleanerclip_card.json").read_text())
    assert card["history"][-1]["method"] == method
    from cleanerclip_tool.app.recent import last_purified

    assert last_purified() == Path(doc["model"]).resolve()  # what `cleanerclip scan` without MODEL scans


def test_config_file_and_flag_override(setup, tmp_path: Path) -> None:
    model, data = setup
    cfg = tmp_path / "run.toml"
    cfg.write_text('[purify]\nmethod = "cleanclip"\nepochs = 5\n')
    result = runner.invoke(app, [*_args(model, data, tmp_path / "o"), "--config", str(cfg), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["method"] == "cleanclip" and doc["epochs"] == 1


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--tau-pos", "0"], "tau_pos"),
        (["--tau-neg", "-1"], "tau_neg"),
        (["--lambda2", "-1"], "lambda2"),
        (["--samples", "1000", "--strict"], "samples K=1000"),
        (["--method", "magic"], "method"),
        (["--cfa-side", "sideways"], "cfa_side must be 'both', 'text' or 'image'"),
        (["--cfa-schedule", "often"], "cfa_schedule"),
        (["--negative-set", "all"], "negative_set"),
    ],
)
def test_bad_values_exit_2(setup, tmp_path: Path, extra: list[str], needle: str) -> None:
    model, data = setup
    result = runner.invoke(app, [*_args(model, data, tmp_path / "x"), *extra])
    assert result.exit_code == 2, result.output
    assert needle in result.output and "Traceback" not in result.output


def test_missing_data_and_non_empty_out(setup, tmp_path: Path) -> None:
    model, data = setup
    result = runner.invoke(app, _args(model, tmp_path / "nope.csv", tmp_path / "o"))
    assert result.exit_code == 2 and "not found" in result.output
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "file").write_text("x")
    result = runner.invoke(app, _args(model, data, busy))
    assert result.exit_code == 2 and "not empty" in result.output


def test_every_other_purify_parameter_is_a_config_override() -> None:
    """The signature is the one list of config flags: a misspelt parameter would silently not override."""
    import inspect

    from cleanerclip_tool.cli.commands.purify import config_overrides, purify
    from cleanerclip_tool.config import config_field_names

    run_options = {
        "model",
        "data",
        "config",
        "resume",
        "overwrite",
        "allow_outside_root",
        "strict",
        "threads",
        "arch",
        "trust_checkpoint",
        "json_",
    }
    params = set(inspect.signature(purify).parameters)
    assert params - run_options <= config_field_names()
    assert config_overrides({"epochs": 3, "out": Path("x"), "model": "toy:clean", "lr": None}) == {
        "epochs": 3,
        "out": "x",
        "lr": None,
    }


def test_settings_too_large_for_the_data_are_fitted_with_warnings(setup, tmp_path: Path) -> None:
    """The paper's defaults on a 24-row set: K and the batch lowered, the 10,000-step warmup shortened;
    the card records what was used and what was asked."""
    model, data = setup
    args = ["purify", str(model), "--data", str(data), "--out", str(tmp_path / "o"), "--epochs", "1"]
    result = runner.invoke(app, [*args, "--workers", "0", "--device", "cpu", "--samples", "100", "--batch-size", "64"])
    assert result.exit_code == 0, result.output
    assert "samples K=100 is larger than the data set (24 usable rows); using 24" in result.stderr
    assert "batch size 64 is larger than the 24 usable rows; using 24" in result.stderr
    assert "warmup 10000 steps is more than half of this run's 1 steps" in " ".join(result.stderr.split())
    card = json.loads((tmp_path / "o" / "model" / "cleanerclip_card.json").read_text())
    notes = card["history"][-1]
    assert notes["warmup"] == 1 and notes["warmup_requested"] == 10_000
    assert notes["requested"] == {"samples": 100, "batch_size": 64}
