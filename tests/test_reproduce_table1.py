"""The Table-1 reproduction script's aggregation and its table beside the paper's numbers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def repro():
    spec = importlib.util.spec_from_file_location("reproduce_table1", REPO / "benchmarks" / "reproduce_table1.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report(asr_ft: float, ba_ft: float) -> dict:
    def rates(v: float) -> dict:
        return {k: v for k in ("1", "3", "5", "10")}

    return {
        "results": [
            {"method": "none", "ba": rates(96.0), "asr": rates(97.0)},
            {"method": "ft", "ba": rates(ba_ft), "asr": rates(asr_ft)},
        ]
    }


def test_aggregate_gives_mean_and_sample_sd_over_seeds(repro) -> None:
    agg = repro.aggregate({("badnet", 0): _report(90.0, 94.0), ("badnet", 1): _report(80.0, 96.0)})
    mean, sd, n = agg["badnet"]["ft"]["asr"]["1"]
    assert (mean, n) == (85.0, 2) and sd == pytest.approx(7.0711, abs=1e-3)
    assert agg["badnet"]["none"]["ba"]["10"] == [96.0, 0.0, 2]


def test_table_sits_beside_the_papers_values(repro) -> None:
    agg = repro.aggregate({("badnet", 0): _report(90.0, 94.0), ("badnet", 1): _report(80.0, 96.0)})
    table = repro.markdown_table(agg, ["badnet"])
    # FT on BadNet, Top-1: paper 54.98 BA / 62.14 ASR.
    assert "| Top-1 | FT | 95.0 ± 1.4 (55.0) | 85.0 ± 7.1 (62.1) |" in table
    assert "| Top-1 | CleanCLIP | — | — |" in table  # a defense that was not run is a dash, not a zero
    assert "| Top-1 | PAR | — | — |" in table and "| Top-1 | Clean model | — | — |" in table  # no paper value
    assert table.count("\n") == 1 + 4 * 6  # header rule + Top-k x 6 rows


def test_paper_table_is_complete(repro) -> None:
    for k in repro.TOPK:
        for method in ("none", "ft", "cleanclip", "cleanerclip"):  # the paper has no PAR and no clean row
            assert set(repro.PAPER[k][method]) == set(repro.ATTACKS)
    assert repro.PAPER["1"]["cleanerclip"]["badclip"] == (51.29, 17.85)


def test_compact_table_has_one_row_per_attack(repro) -> None:
    agg = repro.aggregate({("badnet", 0): _report(90.0, 94.0), ("badnet", 1): _report(80.0, 96.0)})
    table = repro.compact_table(agg, ["badnet", "sig"])
    lines = table.splitlines()
    assert len(lines) == 2 + 2
    assert lines[2].startswith(
        "| badnet | — | 96.0 ± 0.0 / **97.0 ± 0.0** (59.3 / 91.3) | 95.0 ± 1.4 / **85.0 ± 7.1** (55.0 / 62.1)"
    )
    assert lines[3] == "| sig | — | — | — | — | — | — |"


def test_compute_line_sums_pretraining_and_defenses(repro, tmp_path: Path) -> None:
    import json

    victim = tmp_path / "victims" / "badnet-seed1-scale1"
    victim.mkdir(parents=True)
    (victim / "cleanerclip_card.json").write_text(
        json.dumps({"history": [{"action": "toyworld-pretrain", "seconds": 600.0}]}), encoding="utf-8"
    )
    reports = {
        ("badnet", 0): {"model": "/shipped/badnet", "wall_seconds": 120.0},
        ("badnet", 1): {"model": str(victim), "wall_seconds": 180.0},
    }
    line = repro.compute_line(reports, tmp_path)
    assert "1 victims built in 10 min, 1 shipped" in line and "each defense, scan) 5 min" in line


def test_victim_build_time_is_the_newest_builder_entry(repro, tmp_path: Path) -> None:
    """A paper victim's card also holds toy:clean's pretraining: only the attacker's run counts."""
    import json

    (tmp_path / "cleanerclip_card.json").write_text(
        json.dumps(
            {
                "history": [
                    {"action": "toyworld-pretrain", "seconds": 1900.0},
                    {"action": "toyworld-victim", "seconds": 200.0},
                    {"action": "purify", "seconds": 50.0},
                ]
            }
        ),
        encoding="utf-8",
    )
    assert repro.pretrain_seconds(tmp_path) == 200.0


def test_keep_rows_leaves_the_demos_clean_row_out_unless_asked(repro) -> None:
    """The demo always appends a "clean" row; an ablation reads its last row as CleanerCLIP's."""
    report = {"results": [{"method": m} for m in ("none", "ft", "cleanerclip", "clean")]}
    assert [r["method"] for r in repro.keep_rows(report, ("cleanerclip",))["results"]] == ["none", "cleanerclip"]
    kept = repro.keep_rows(report, repro.METHODS)["results"]
    assert [r["method"] for r in kept] == ["none", "ft", "cleanerclip", "clean"]
