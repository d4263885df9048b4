"""The shipped toy models: loadable as ``toy:NAME``, recorded, and reproducible by the command."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from cleanerclip_tool.toyworld import list_toy_models, resolve_toy_model
from cleanerclip_tool.toyworld.registry import BUILD_RECORD

REPO = Path(__file__).resolve().parent.parent
SHIPPED = ("badnet", "clean")


def _build_script():
    spec = importlib.util.spec_from_file_location("build_toy_models", REPO / "scripts" / "build_toy_models.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_shipped_models_are_listed_with_their_build_record() -> None:
    assert set(SHIPPED) <= set(list_toy_models())
    for name in SHIPPED:
        record = json.loads((resolve_toy_model(name) / BUILD_RECORD).read_text())
        assert record["name"] == f"toy:{name}"
        assert "seed" in record["settings"] and "ba_top1" in record["metrics"]
        assert (record["settings"]["attack"] is None) == (name == "clean")


def test_shipped_backdoors_work_and_models_know_the_shapes() -> None:
    """Every shipped backdoored model: Top-1 ASR >= 80% on its own trigger (toy:clean: near 0 on
    the BadNet trigger), and every model well above the 10% chance BA (issue 4's bar)."""
    clean = json.loads((resolve_toy_model("clean") / BUILD_RECORD).read_text())["metrics"]
    assert clean["ba_top1"] >= 50.0 and clean["asr_top1"] <= 20.0
    for name in [n for n in list_toy_models() if n != "clean"]:
        metrics = json.loads((resolve_toy_model(name) / BUILD_RECORD).read_text())["metrics"]
        assert metrics["asr_top1"] >= 80.0, name
        assert metrics["ba_top1"] >= 50.0, name


def test_shipped_models_load_as_toy_specs() -> None:
    pytest.importorskip("cleanerclip_tool.models.save")
    from cleanerclip_tool.models.load import load_model
    from cleanerclip_tool.toyworld import is_toy_model

    loaded = load_model("toy:badnet")
    assert loaded.card.kind == "toy" and is_toy_model(loaded.card)
    assert any(h.get("action") == "toyworld-pretrain" for h in loaded.card.history)


@pytest.mark.slow
def test_shipped_badnet_is_what_the_command_produces() -> None:
    """Re-run the recorded build (a few minutes on one core) and compare metrics within noise."""
    import torch

    record = json.loads((resolve_toy_model("badnet") / BUILD_RECORD).read_text())
    script = _build_script()
    settings = script.settings_of(record)
    torch.set_num_threads(record.get("torch_threads", 1))
    rebuilt = script.build_one("badnet", settings, out_root=None)
    # Same seed and settings; float summation order differs across machines and thread counts.
    assert abs(rebuilt["metrics"]["ba_top1"] - record["metrics"]["ba_top1"]) <= 8.0
    assert abs(rebuilt["metrics"]["asr_top1"] - record["metrics"]["asr_top1"]) <= 10.0
