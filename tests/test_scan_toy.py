"""Toy-model defaults of the scan, the shipped artefacts, and the one-decode / prefetching pass.

``cleanerclip scan toy:clean --attack all`` must run all six attacks with no flags: SSBA and BadCLIP
default to the artefacts in ``toyworld/artefacts/`` (built by ``scripts/build_toy_artefacts.py``) and
every attack to ``toyworld.triggers.toy_params``. A non-toy model without an artefact is a clear exit 2.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_scan import CLASSES, make_eval_folder
from typer.testing import CliRunner

from cleanerclip_tool.attacks import PAPER_ATTACKS, get_trigger
from cleanerclip_tool.attacks.base import file_sha256
from cleanerclip_tool.errors import BadInputError
from cleanerclip_tool.toyworld.triggers import ARTEFACTS_DIR, BUILD_RECORD, artefact_path, toy_params

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def build_record() -> dict:
    return json.loads((ARTEFACTS_DIR / BUILD_RECORD).read_text())


def test_shipped_artefacts_match_their_build_record(build_record: dict) -> None:
    for attack in ("ssba", "badclip"):
        path = artefact_path(attack)
        entry = build_record["artefacts"][attack]
        assert path is not None and path.is_file() and path.name == entry["file"]
        assert file_sha256(path) == entry["sha256"] and path.stat().st_size == entry["bytes"]
    assert artefact_path("ssba").stat().st_size < 1_000_000  # small enough to ship in the wheel
    assert build_record["artefacts"]["ssba"]["bit_accuracy"] >= 0.9  # the decoder reads the code


def test_toy_params_build_all_six_triggers_for_32px_images() -> None:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8))
    for attack in PAPER_ATTACKS:
        params = toy_params(attack)
        assert params is not toy_params(attack)  # a fresh dict: callers may update it
        out = get_trigger(attack, **params).apply(image, 3)
        assert out.size == image.size and np.asarray(out).tobytes() != image.tobytes(), attack
    assert toy_params("badnet")["size_px"] == 5 and toy_params("BadNet") == toy_params("badnet")
    assert toy_params("ssba")["encoder"] == str(artefact_path("ssba"))
    assert toy_params("badclip")["patch"] == str(artefact_path("badclip"))
    assert "encoder" not in toy_params("ssba", artefacts=False) and toy_params("custom") == {}


def test_shipped_ssba_residual_is_bounded_and_sample_specific(build_record: dict) -> None:
    trigger = get_trigger("ssba", **toy_params("ssba"))
    bound = math.ceil(trigger.encoder.config.epsilon * 255) + 1  # + 1: rounding to uint8
    rng = np.random.default_rng(1)
    residuals = []
    for i in range(2):
        arr = rng.integers(30, 225, (32, 32, 3), dtype=np.uint8)
        out = np.asarray(trigger.apply(Image.fromarray(arr), i)).astype(int)
        residuals.append(out - arr)
        assert np.abs(residuals[-1]).max() <= bound and np.abs(residuals[-1]).mean() > 0.5
    assert not np.array_equal(residuals[0], residuals[1])


def test_shipped_badclip_patch_pastes_in_the_centre() -> None:
    patch = np.asarray(Image.open(artefact_path("badclip")).convert("RGB"))
    assert patch.shape == (5, 5, 3)
    out = np.asarray(get_trigger("badclip", **toy_params("badclip")).apply(Image.new("RGB", (32, 32))))
    assert np.array_equal(out[13:18, 13:18], patch)


# --- CLI ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_app():
    from cleanerclip_tool.cli.app import app

    return app


def _toy_clean_or_skip() -> None:
    registry = pytest.importorskip("cleanerclip_tool.toyworld.registry")
    if "clean" not in registry.list_toy_models():
        pytest.skip("toy:clean is not shipped in this checkout")


def test_scan_of_a_toy_model_resolves_the_shipped_artefacts(tmp_path: Path, cli_app, build_record: dict) -> None:
    _toy_clean_or_skip()
    ev = make_eval_folder(tmp_path / "ev", per_class=1)
    result = CliRunner().invoke(
        cli_app,
        [
            "scan",
            "toy:clean",
            "--eval-data",
            str(ev),
            "--attack",
            "ssba,badclip,sig",
            "--topk",
            "1",
            "--json",
            "--device",
            "cpu",
            "--workers",
            "0",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = {r["attack"]: r for r in json.loads(result.stdout)["results"]}
    assert rows["ssba"]["artefact_sha256"] == build_record["artefacts"]["ssba"]["sha256"]
    assert rows["badclip"]["artefact_sha256"] == build_record["artefacts"]["badclip"]["sha256"]
    assert rows["badclip"]["params"]["size_px"] == 5 and rows["sig"]["params"]["frequency"] == 4.0


def test_toy_defaults_prefer_the_trigger_the_model_was_poisoned_with() -> None:
    from types import SimpleNamespace

    from cleanerclip_tool.toyworld.triggers import toy_trigger_defaults

    card = SimpleNamespace(
        history=[
            {"settings": {"attack": "badclip", "seed": 7, "trigger_params": {"size_px": 6, "patch": "/gone/patch.png"}}}
        ]
    )
    params, seed = toy_trigger_defaults(card, "badclip")
    assert seed == 7 and params["size_px"] == 6
    assert params["patch"] == str(artefact_path("badclip"))  # a recorded path missing here: the shipped one
    assert toy_trigger_defaults(card, "wanet") == (toy_params("wanet"), None)


def test_scan_of_a_non_toy_model_needs_an_artefact(tmp_path: Path, cli_app) -> None:
    from tiny import make_tiny_model, tiny_cfg

    from cleanerclip_tool.models.load import build_loaded_model
    from cleanerclip_tool.models.save import save_model

    loaded = build_loaded_model(tiny_cfg(), make_tiny_model(0), source="tiny", kind="file")
    model_dir = save_model(loaded.model, tmp_path / "tiny", loaded.card)
    ev = make_eval_folder(tmp_path / "ev", per_class=1)
    runner = CliRunner()
    base = ["scan", str(model_dir), "--eval-data", str(ev), "--device", "cpu", "--workers", "0", "--topk", "1"]
    for attack in ("ssba", "badclip"):  # named explicitly: refused
        result = runner.invoke(cli_app, [*base, "--attack", attack])
        assert result.exit_code == 2, result.output
        assert "trigger artefact" in result.output and "--trigger" in result.output
    every = runner.invoke(cli_app, [*base, "--attack", "all", "--json"])  # "all": the others run, these are skipped
    assert every.exit_code == 0, every.output
    assert "skipped ssba, badclip" in every.stderr and "--param ssba.encoder" in every.stderr
    assert [s["attack"] for s in json.loads(every.stdout)["skipped"]] == ["ssba", "badclip"]
    ok = runner.invoke(cli_app, [*base, "--attack", "ssba", "--trigger", str(artefact_path("ssba")), "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["results"][0]["params"]["encoder"] == str(artefact_path("ssba"))


# --- the pass ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_loaded():
    from tiny import make_tiny_model, tiny_cfg

    from cleanerclip_tool.models.load import build_loaded_model

    return build_loaded_model(tiny_cfg(), make_tiny_model(0), source="tiny", kind="file")


def test_each_image_is_decoded_once_for_all_views(tmp_path: Path, tiny_loaded, monkeypatch) -> None:
    import cleanerclip_tool.eval.scan as scan_module
    from cleanerclip_tool.eval.evalset import load_eval_set

    eval_set = load_eval_set(make_eval_folder(tmp_path / "ev", per_class=2))
    calls: list[str] = []
    real = scan_module.open_rgb
    monkeypatch.setattr(scan_module, "open_rgb", lambda path: calls.append(str(path)) or real(path))
    attacks = [get_trigger("badnet"), get_trigger("sig"), get_trigger("wanet")]
    report = scan_module.scan(tiny_loaded, eval_set, attacks, topk=(1, 3), batch_size=5, workers=0)
    assert len(calls) == len(set(calls)) == 8  # 8 images, 4 views each, one decode each
    assert report.views == 4 and report.scan_images_per_second > 0 and report.forward_seconds > 0
    # the same predictions as scanning each attack on its own (views do not leak into each other)
    alone = scan_module.scan(tiny_loaded, eval_set, [attacks[1]], topk=(1, 3), batch_size=3, workers=0)
    assert alone.results[0].asr == report.results[1].asr and alone.results[0].ba == report.results[1].ba
    assert alone.results[0].discovered_target == report.results[1].discovered_target


def test_a_trigger_failing_in_the_prefetch_thread_surfaces(tmp_path: Path, tiny_loaded) -> None:
    from cleanerclip_tool.attacks.base import Trigger
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.eval.scan import scan

    class Broken(Trigger):
        name = "broken"
        Params = type(get_trigger("sig").params)

        def apply_array(self, image: np.ndarray, index: int) -> np.ndarray:
            if index >= 5:
                raise RuntimeError("trigger broke on image 5")
            return image

    eval_set = load_eval_set(make_eval_folder(tmp_path / "ev", per_class=3))
    with pytest.raises(RuntimeError, match="image 5"):
        scan(tiny_loaded, eval_set, [Broken()], topk=(1,), batch_size=4, workers=0)


def test_scan_results_agree_with_and_without_a_worker_process(tmp_path: Path, tiny_loaded) -> None:
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.eval.scan import scan

    eval_set = load_eval_set(make_eval_folder(tmp_path / "ev", per_class=3))
    attacks = [get_trigger("badnet", size_px=5)]
    threaded = scan(tiny_loaded, eval_set, attacks, topk=(1, 3), batch_size=6, workers=0).to_dict()
    worker = scan(tiny_loaded, eval_set, attacks, topk=(1, 3), batch_size=6, workers=1).to_dict()
    for key in ("ba", "asr", "discovered_target", "discovered_share", "n_triggered"):
        assert threaded["results"][0][key] == worker["results"][0][key]
    assert threaded["results"][0]["discovered_target"] in CLASSES


# --- parameter validation shared by the triggers ----------------------------------------------------


@pytest.mark.parametrize(
    ("attack", "params", "message"),
    [
        ("badnet", {"size": 0}, r"size must be in \(0, 1\]"),
        ("badnet", {"size_px": 0}, r"size_px must be in \[1, inf\)"),
        ("badnet", {"pattern": "stripes"}, "pattern must be one of noise, checkerboard"),
        ("badnet", {"noise_std": -1.0}, r"noise_std must be in \[0, inf\)"),
        ("sig", {"alpha": 1.5}, r"alpha must be in \(0, 1\]"),
        ("sig", {"frequency": 0}, r"frequency must be in \(0, inf\)"),
        ("sig", {"amplitude": float("nan")}, "amplitude must be in"),
        ("sig", {"mode": "mul"}, "mode must be one of blend, add"),
    ],
)
def test_trigger_parameters_are_validated_alike(attack: str, params: dict, message: str) -> None:
    with pytest.raises(BadInputError, match=message):
        get_trigger(attack, **params)


def test_interval_edges() -> None:
    from cleanerclip_tool.attacks.base import require_interval

    require_interval("x", "a", 1.0, "(0, 1]")
    require_interval("x", "a", 0.0, "[0, 1)")
    require_interval("x", "a", None, "(0, 1]")
    for value, interval in ((0.0, "(0, 1]"), (1.0, "[0, 1)"), (float("inf"), "[1, inf)")):
        with pytest.raises(BadInputError):
            require_interval("x", "a", value, interval)


def test_trigger_cli_checks_the_output_kind_first(tmp_path: Path, cli_app) -> None:
    runner = CliRunner()
    src = tmp_path / "missing-data"
    ssba = runner.invoke(cli_app, ["trigger", "train-ssba", str(src), "--out", str(tmp_path / "enc.pt")])
    assert ssba.exit_code == 2 and ".safetensors" in ssba.output
    patch = runner.invoke(
        cli_app,
        [
            "trigger",
            "optimize-badclip",
            "toy:clean",
            "--data",
            str(src),
            "--target",
            "heart",
            "--out",
            str(tmp_path / "patch.jpg"),
        ],
    )
    assert patch.exit_code == 2 and ".png" in patch.output


@pytest.mark.slow
def test_build_script_rebuilds_the_badclip_patch_and_records_it(tmp_path: Path) -> None:
    _toy_clean_or_skip()
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "build_toy_artefacts.py"),
            "--only",
            "badclip",
            "--out-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    record = json.loads((tmp_path / BUILD_RECORD).read_text())
    entry = record["artefacts"]["badclip"]
    assert set(record["artefacts"]) == {"badclip"} and entry["side"] == 5
    assert file_sha256(tmp_path / entry["file"]) == entry["sha256"]
    assert entry["cos_to_target_after"] > entry["cos_to_target_before"]
