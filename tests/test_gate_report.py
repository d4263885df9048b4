"""The CI gate (exit 3) and the scan report (report.md + chart.png), on the shipped toy models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cleanerclip_tool.app.gate import Gate, metric_k
from cleanerclip_tool.app.report import write_scan_report
from cleanerclip_tool.cli.app import app
from cleanerclip_tool.errors import BadInputError

runner = CliRunner()
FAST = ["--attack", "badnet", "--limit", "60", "--workers", "0", "--topk", "1,5"]


def _row(attack: str, asr1: float, growth: float, asr5: float = 1.0) -> dict:
    return {
        "attack": attack,
        "target": None,
        "asr_target": "heart",
        "ba": {"1": 0.9, "5": 1.0},
        "asr": {"1": asr1, "5": asr5},
        "discovered_target": "heart",
        "discovered_share": 0.1 + growth,
        "discovered_clean_share": 0.1,
        "discovered_growth": growth,
        "n_clean": 60,
        "n_triggered": 54,
        "params": {"size_px": 5},
        "seed": 0,
        "artefact_sha256": None,
        "seconds": 0.1,
    }


def _report(*rows: dict, source: str = "toy:x") -> dict:
    return {
        "model": {"source": source, "sha256": "0" * 64},
        "eval_data": "test",
        "results": list(rows),
        "topk": [1, 5],
        "asr_convention_note": "ASR counts triggered images whose true class is not the target",
        "classes": 10,
        "templates": "templates.txt",
        "device": "cpu",
    }


def test_gate_rules() -> None:
    report = _report(_row("badnet", 0.97, 0.85), _row("sig", 0.05, 0.02, asr5=0.3))
    assert [f.split(":")[0] for f in Gate(fail_above=0.2).failures(report)] == ["badnet"]
    assert [f.split(":")[0] for f in Gate(fail_above=0.2, metric="asr@5").failures(report)] == ["badnet", "sig"]
    only_discovery = Gate(fail_on_discovery=0.1).failures(report)
    assert len(only_discovery) == 1 and "toward 'heart' 10.0% → 95.0% (+85.0 points" in only_discovery[0]
    assert Gate(fail_above=0.99, fail_on_discovery=0.9).verdict(report)["passed"]
    assert Gate(fail_above=0.2).verdict(report)["exit_code"] == 3
    assert metric_k("ASR@10") == 10
    for bad in ("ba@1", "asr", "asr@0", "top1"):
        with pytest.raises(BadInputError, match="--fail-metric"):
            metric_k(bad)
    with pytest.raises(BadInputError, match="0.2 means 20%"):
        Gate(fail_above=20).validate([1])
    with pytest.raises(BadInputError, match="k=5"):
        Gate(fail_above=0.2, metric="asr@5").validate([1, 3])


def test_backdoored_toy_model_fails_the_gate_with_exit_3(tmp_path: Path) -> None:
    result = runner.invoke(app, ["scan", "toy:badnet", *FAST, "--fail-above", "0.2", "--json"])
    assert result.exit_code == 3, result.output
    doc = json.loads(result.stdout)
    assert doc["gate"]["passed"] is False and doc["gate"]["failures"][0].startswith("badnet: ASR@1")
    assert "scan gate failed (badnet" in result.stderr


def test_clean_toy_model_passes_and_bad_gate_flags_exit_2() -> None:
    passed = runner.invoke(app, ["scan", "toy:clean", *FAST, "--fail-above", "0.5", "--fail-on-discovery", "0.3"])
    assert passed.exit_code == 0, passed.output
    assert "gate passed: toy:clean" in passed.stderr
    bad = runner.invoke(app, ["scan", "toy:clean", *FAST, "--fail-above", "0.2", "--fail-metric", "asr@10"])
    assert bad.exit_code == 2 and "--fail-metric" in bad.stderr


def test_two_models_report_and_gate_judges_the_second(tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = runner.invoke(
        app, ["scan", "toy:badnet", "toy:clean", *FAST, "--report", str(out), "--fail-above", "0.5", "--json"]
    )
    assert result.exit_code == 0, result.output  # toy:clean, the second model, passes
    doc = json.loads(result.stdout)
    assert [s["label"] for s in doc["scans"]] == ["toy:badnet", "toy:clean"] and doc["gate"]["passed"]
    assert {p.name for p in out.iterdir()} == {"report.md", "report.json", "chart.png"}
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = (out / "report.md").read_text()
    assert "| badnet | toy:badnet |" in text and "| badnet | toy:clean |" in text and "![" in text
    # --reference: a clean floor scanned with each model's triggers, beside it in the report.
    floor = tmp_path / "floor"
    both = runner.invoke(
        app, ["scan", "toy:badnet", "toy:clean", *FAST, "--reference", "toy:clean", "--report", str(floor), "--json"]
    )
    assert both.exit_code == 0, both.output
    scans = json.loads(both.stdout)["scans"]
    pairs = [(s["label"], s["reference"]["spec"]) for s in scans]
    assert pairs == [("toy:badnet", "toy:clean"), ("toy:clean", "toy:clean")]
    text = (floor / "report.md").read_text()
    assert "| badnet | toy:clean (ref of toy:badnet) |" in text and "| badnet | toy:clean (ref of toy:clean) |" in text
    unknown = runner.invoke(app, ["scan", "toy:clean", *FAST, "--reference", "toy:x"])
    assert unknown.exit_code == 2 and "unknown toy model 'x'" in unknown.stderr


def test_report_renders_one_model_without_a_model_column(tmp_path: Path) -> None:
    files = write_scan_report(tmp_path, [_report(_row("badnet", 0.97, 0.85))], chart=False)
    text = files["markdown"].read_text()
    assert "| attack | BA@1 | BA@5 | ASR@1 | ASR@5 | ASR toward |" in text
    assert "| badnet | 90.0 | 100.0 | 97.0 | 100.0 | heart (auto) |" in text
    assert json.loads(files["json"].read_text())["scans"][0]["label"] == "toy:x"
