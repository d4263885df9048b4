"""Tables as a user reads them: at 80 columns (a terminal, or a pipe) every number is whole."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cleanerclip_tool.cli.common import console

ATTACKS = ("badnet", "blended", "sig", "wanet", "ssba", "badclip")


@pytest.fixture
def narrow() -> Iterator[None]:
    before = console.width
    console.width = 80
    try:
        yield
    finally:
        console.width = before


def _scan_report(ks: tuple[int, ...] = (1, 3, 5, 10), classes: int = 10, target: str | None = None) -> dict:
    def rates(value: float) -> dict[str, float | None]:
        return {str(k): (None if k > classes else value) for k in ks}

    return {
        "model": {"source": "toy:badnet"},
        "eval_data": "/data/test",
        "topk": list(ks),
        "asr_convention_note": "ASR counts triggered images whose true class is not the target",
        "classes": classes,
        "templates": "openai",
        "device": "cpu",
        "precision": "fp32",
        "results": [
            {
                "attack": name,
                "ba": rates(0.964),
                "asr": rates(1.0),
                "target": target,
                "asr_target": "rectangle",
                "discovered_target": "rectangle",
                "discovered_share": 0.984,
                "discovered_growth": 0.896,
                "n_clean": 500,
                "n_triggered": 450,
                "seconds": 12.3,
            }
            for name in ATTACKS
        ],
    }


def _lines(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return capsys.readouterr().err.splitlines()


def test_scan_table_fits_80_columns_with_whole_numbers(narrow: None, capsys: pytest.CaptureFixture[str]) -> None:
    from cleanerclip_tool.cli.commands.scan import render_table

    render_table(_scan_report())
    lines = _lines(capsys)
    assert max(len(line.rstrip()) for line in lines) <= 80
    text = "\n".join(lines)
    assert "…" not in text
    header = next(line for line in lines if line.startswith("attack"))
    assert header.split() == ["attack", "BA@1", "ASR@1", "ASR@5", "ASR@10", "target", "pull"]
    for name in ATTACKS:
        row = next(line for line in lines if line.startswith(name + " "))
        assert row.split()[1:5] == ["96.4", "100.0", "100.0", "100.0"]
        assert "rectangle*" in row and "rectangle +89.6" in row
    assert "--wide" in text


def test_scan_table_wide_shows_every_k(narrow: None, capsys: pytest.CaptureFixture[str]) -> None:
    from cleanerclip_tool.cli.commands.scan import render_table

    render_table(_scan_report(target="rectangle"), wide=True)
    lines = _lines(capsys)
    header = next(line for line in lines if line.startswith("attack"))
    for k in (1, 3, 5, 10):
        assert f"BA@{k}" in header and f"ASR@{k}" in header
    assert "…" not in "\n".join(lines)
    assert "500/450" in "\n".join(lines)


def test_scan_table_with_a_reference_fits_80_columns(narrow: None, capsys: pytest.CaptureFixture[str]) -> None:
    from cleanerclip_tool.cli.commands.scan import render_table

    report = _scan_report()
    reference = _scan_report()
    for row in reference["results"]:
        row["asr"] = dict.fromkeys(row["asr"], 0.123)
    reference["results"] = reference["results"][:-1]  # an attack the reference lacks: a dash
    for row in report["results"]:
        row["trigger_source"] = {"text": "model card (poisoned by toyworld-pretrain, target heart)"}
    report["results"][1]["trigger_source"] = {"text": "toy world defaults"}
    report["reference"] = {"spec": "toy:clean", **reference}
    render_table(report)
    lines = _lines(capsys)
    assert max(len(line.rstrip()) for line in lines) <= 80 and "…" not in "\n".join(lines)
    at = next(i for i, line in enumerate(lines) if line.startswith("attack"))
    assert lines[at].split() == ["attack", "BA@1", "ASR@1", "ASR@5", "ASR@10", "ASR@1", "target", "pull"]
    assert lines[at - 1].split() == ["ref"] and lines[at - 1].index("ref") > lines[at].index("ASR@10")
    assert next(line for line in lines if line.startswith("badnet ")).split()[1:6] == [
        "96.4",
        "100.0",
        "100.0",
        "100.0",
        "12.3",
    ]
    assert next(line for line in lines if line.startswith("badclip ")).split()[5] == "—"
    text = "\n".join(lines)
    assert "ref: toy:clean (BA@1 96.4)" in text
    flat = " ".join(text.split())  # a long note wraps at 80 columns
    assert (
        "triggers of badnet, sig, wanet, ssba, badclip: model card (poisoned by toyworld-pretrain, target heart)."
        in flat
    )
    assert "triggers of blended: toy world defaults." in text

    render_table(report, wide=True)
    lines = _lines(capsys)
    at = next(i for i, line in enumerate(lines) if line.startswith("attack"))
    assert lines[at - 1].split() == ["ref"] * 4 and lines[at].count("ASR@1 ") == 2


def test_a_missing_rate_is_a_dash(narrow: None, capsys: pytest.CaptureFixture[str]) -> None:
    from cleanerclip_tool.cli.commands.scan import render_table

    render_table(_scan_report(classes=3), wide=True)  # BA@5 and BA@10 do not exist with 3 classes
    row = next(line for line in _lines(capsys) if line.startswith("badnet"))
    assert row.split()[1:5] == ["96.4", "96.4", "—", "—"]


def test_demo_table_fits_80_columns(narrow: None, capsys: pytest.CaptureFixture[str]) -> None:
    from cleanerclip_tool.cli.commands.demo import render_report

    labels = ("No defense", "Standard FT", "CleanCLIP", "CleanerCLIP", "Clean model")
    report = {
        "model": "toy:badnet",
        "reference": "toy:clean",
        "attack": "badnet",
        "target": "heart",
        "topk": [1, 3, 5, 10],
        "wall_seconds": 300.0,
        "files": {"report": "/tmp/report.json"},
        "results": [
            {
                "label": label,
                "ba": dict.fromkeys(["1", "3", "5", "10"], 96.4),
                "asr": dict.fromkeys(["1", "3", "5", "10"], 100.0),
                "seconds": 61.0,
            }
            for label in labels
        ],
    }
    render_report(report)
    lines = _lines(capsys)
    assert max(len(line.rstrip()) for line in lines) <= 80
    assert "…" not in "\n".join(lines)
    for label in labels:
        assert any(line.startswith(label) and "100.0" in line for line in lines)


def test_json_documents_are_strict_and_carry_their_provenance() -> None:
    import json

    from cleanerclip_tool.cli.common import json_text

    def refuse(name: str) -> None:
        raise ValueError(f"{name} is not JSON")

    doc = json.loads(json_text({"asr": {"1": float("nan")}, "ba": [float("inf"), 0.5]}), parse_constant=refuse)
    assert doc["asr"] == {"1": None} and doc["ba"] == [None, 0.5]
    assert doc["schema_version"] == 1 and doc["cleanerclip"] and doc["torch"] and doc["open_clip"]
    assert doc["created"].endswith("+00:00")
