"""The application layer on its own: the scan config, trigger building, defaults and the data preflight.

The faces' tests (``test_scan*.py``, ``test_purify_cli.py``, ``test_tui*.py``) cover the same code
through the CLI and the TUI; these pin the layer's contract for callers that use it directly.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace

import pytest

from cleanerclip_tool.app import ScanConfig, build_triggers, default_eval_data, is_toy, preflight
from cleanerclip_tool.app.preflight import fit_to_data
from cleanerclip_tool.config import PurifyConfig
from cleanerclip_tool.data.captions import CaptionRow, CaptionTable, SkippedRow
from cleanerclip_tool.errors import BadInputError, DataError

NON_TOY = SimpleNamespace(kind="file", architecture="RN50", model_cfg={"embed_dim": 1024}, history=[])
TOY = SimpleNamespace(kind="toy", architecture="custom", model_cfg={}, history=[])


def test_scan_config_is_frozen_all_the_way_down() -> None:
    config = ScanConfig(attacks=["badnet"], params={"badnet": {"size_px": 5}}, topk=[1, 5])
    assert config.attacks == ("badnet",) and config.topk == (1, 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.limit = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        config.params["badnet"]["size_px"] = 6  # type: ignore[index]
    assert dataclasses.replace(config, limit=3).params["badnet"]["size_px"] == 5


def test_toy_triggers_take_the_toy_settings_and_the_recorded_seed() -> None:
    card = SimpleNamespace(**{**vars(TOY), "history": [{"settings": {"attack": "badnet", "seed": 7}}]})
    badnet, sig = build_triggers(card, ["badnet", "sig"], overrides={"sig": {"frequency": 3.0}}, seed=11)
    assert badnet.seed == 7 and badnet.describe()["params"]["size_px"] == 5
    assert sig.seed == 11 and sig.describe()["params"]["frequency"] == 3.0  # --param wins over the toy default


def test_a_non_toy_model_needs_its_artefacts_and_its_eval_data() -> None:
    assert not is_toy(NON_TOY) and is_toy(TOY)
    with pytest.raises(BadInputError, match="trigger artefact"):
        build_triggers(NON_TOY, ["badnet", "ssba"])
    (badnet,) = build_triggers(NON_TOY, ["badnet"], seed=3)
    assert badnet.seed == 3 and badnet.describe()["params"]["size_px"] is None  # the paper's size, not the toy's
    with pytest.raises(BadInputError, match="--eval-data is required"):
        default_eval_data(NON_TOY)


def _table(tmp_path: Path, good: int, bad_lines: list[int]) -> CaptionTable:
    rows = [CaptionRow(line, tmp_path / f"{line}.png", "a caption", f"{line}.png") for line in range(2, 2 + good)]
    skipped = [SkippedRow(line, f"{line}.png", "missing") for line in bad_lines]
    return CaptionTable(tmp_path / "captions.csv", tmp_path, "filepath", "title", rows, skipped)


def test_preflight_stops_on_broken_data_and_too_large_k(tmp_path: Path) -> None:
    config = PurifyConfig(method="cleanerclip", samples=4)
    preflight(_table(tmp_path, 10, []), config, tmp_path / "out")  # fine: nothing written
    assert not (tmp_path / "out").exists()
    with pytest.raises(DataError, match="rows are bad"):
        preflight(_table(tmp_path, 2, [20, 22, 24]), config, tmp_path / "out")
    assert (tmp_path / "out" / "skipped.csv").is_file()
    with pytest.raises(BadInputError, match="samples K=4 is larger"):
        fit_to_data(config, 3, strict=True)  # preflight's strict would first decode the (absent) images
    preflight(_table(tmp_path, 3, []), dataclasses.replace(config, method="ft", batch_size=2), tmp_path / "out2")


def test_preflight_fits_k_batch_and_warmup_to_small_data_with_a_warning(tmp_path: Path) -> None:
    from cleanerclip_tool.engine.schedule import fit_warmup

    events: list = []
    config = PurifyConfig(method="cleanerclip", samples=1000, batch_size=64, warmup=10_000)
    fitted = preflight(_table(tmp_path, 20, []), config, tmp_path / "out", on_event=events.append)
    assert (fitted.samples, fitted.batch_size) == (20, 20)
    assert fitted.extra["requested"] == {"samples": 1000, "batch_size": 64}
    assert [type(e).__name__ for e in events] == ["WarningEvent", "WarningEvent"]
    assert "samples K=1000" in events[0].message and "using 20" in events[0].message
    with pytest.raises(BadInputError, match="batch size 64 is larger"):
        fit_to_data(config.replace(samples=4), 20, strict=True)
    with pytest.raises(BadInputError, match="warmup 10000 steps is more than half"):
        fit_to_data(config.replace(samples=4, batch_size=2), 20, strict=True)
    # the engine's rule: kept up to half the run, else a tenth of it
    assert fit_warmup(10_000, 780) == 78 and fit_warmup(390, 780) == 390 and fit_warmup(0, 780) == 0
