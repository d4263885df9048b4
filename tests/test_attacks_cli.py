"""``cleanerclip trigger train-ssba`` and ``optimize-badclip`` build artefacts the triggers load."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from PIL import Image
from test_poison import make_source
from typer.testing import CliRunner

from cleanerclip_tool.attacks import get_trigger
from cleanerclip_tool.cli.app import app


def test_train_ssba_cli_writes_a_loadable_encoder(tmp_path: Path) -> None:
    src = make_source(tmp_path / "src", n=4)
    out = tmp_path / "enc.safetensors"
    result = CliRunner().invoke(
        app, ["trigger", "train-ssba", str(src), "--out", str(out), "--steps", "3", "--bits", "8", "--json"]
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["steps"] == 3 and 0 <= doc["bit_accuracy"] <= 1
    trig = get_trigger("ssba", encoder=str(out))
    assert trig.encoder.config.n_bits == 8
    img = Image.open(src / "img" / "0.png").convert("RGB")
    assert trig.apply(img).size == img.size
    again = CliRunner().invoke(app, ["trigger", "train-ssba", str(src), "--out", str(out), "--steps", "3"])
    assert again.exit_code == 2  # exists without --overwrite
    wrong = CliRunner().invoke(app, ["trigger", "train-ssba", str(src), "--out", str(tmp_path / "enc.pt")])
    assert wrong.exit_code == 2


def test_optimize_badclip_cli_writes_a_patch_the_trigger_pastes(tmp_path: Path) -> None:
    from tiny import make_tiny_model, tiny_cfg

    from cleanerclip_tool.models.load import build_loaded_model
    from cleanerclip_tool.models.save import save_model

    loaded = build_loaded_model(tiny_cfg(), make_tiny_model(0), source="tiny", kind="file")
    model_dir = save_model(loaded.model, tmp_path / "model", loaded.card)
    src = make_source(tmp_path / "src", n=6)
    out = tmp_path / "patch.png"
    result = CliRunner().invoke(
        app,
        [
            "trigger",
            "optimize-badclip",
            str(model_dir),
            "--data",
            str(src),
            "--target",
            "heart",
            "--out",
            str(out),
            "--steps",
            "4",
            "--size-px",
            "6",
            "--batch-size",
            "3",
            "--device",
            "cpu",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["side"] == 6 and doc["target_rows"] == 3 and doc["source_rows"] == 3
    patch = np.asarray(Image.open(out))
    assert patch.shape == (6, 6, 3)
    pasted = np.asarray(get_trigger("badclip", patch=str(out), size_px=6).apply(Image.new("RGB", (32, 32))))
    assert np.array_equal(pasted[13:19, 13:19], patch)
    bad = CliRunner().invoke(
        app,
        [
            "trigger",
            "optimize-badclip",
            str(model_dir),
            "--data",
            str(src),
            "--target",
            "heart",
            "--out",
            str(tmp_path / "p2.png"),
            "--lr",
            "-1",
        ],
    )
    assert bad.exit_code == 2
