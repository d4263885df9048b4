"""``cleanerclip demo``: the pipeline on a tiny world (smallest settings) and the CLI's error path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cleanerclip_tool.toyworld.demo import (
    METHODS,
    REPORT_SCHEMA,
    ROW_LABELS,
    TOPK,
    DemoSettings,
    render_markdown,
    run_demo,
)
from cleanerclip_tool.toyworld.registry import TARGET_LABEL, list_toy_models

TINY = DemoSettings(rows=32, epochs=1, batch_size=16, lr=1e-4, warmup=1, samples=16, eval_limit=20, epoch_eval_limit=10)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    from cleanerclip_tool.toyworld.world import generate_world

    return generate_world(tmp_path_factory.mktemp("demo") / "world", seed=5, size=200)


@pytest.fixture(scope="module")
def model_spec(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The shipped backdoored toy model, or a saved tiny stand-in when the package ships none."""
    if "badnet" in list_toy_models():
        return "toy:badnet"
    from engine_fixtures import tiny_loaded

    from cleanerclip_tool.models.save import save_model

    loaded = tiny_loaded()
    return str(save_model(loaded.model, tmp_path_factory.mktemp("m") / "model", loaded.card))


@pytest.fixture(scope="module")
def reference(model_spec: str) -> str:
    """The never-poisoned model of the "Clean model" row (the stand-in when no toy model is shipped)."""
    return "toy:clean" if "clean" in list_toy_models() else model_spec


@pytest.fixture(scope="module")
def report(world, model_spec: str, reference: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    events: list = []
    out = tmp_path_factory.mktemp("report") / "demo"
    result = run_demo(
        out,
        attack="badnet",
        model=model_spec,
        reference=reference,
        settings=TINY,
        world=world,
        on_event=events.append,
    )
    result["_events"] = events
    return result


# The pipeline trains three (tiny) purification runs: about 40 s of CPU, minutes on a loaded machine.
pytestmark_slow = pytest.mark.slow


@pytestmark_slow
def test_report_files_and_schema(report: dict) -> None:
    files = {k: Path(v) for k, v in report["files"].items()}
    assert set(files) == {"json", "markdown", "chart", "bars"}
    for path in files.values():
        assert path.is_file() and path.stat().st_size > 0
    assert files["chart"].read_bytes()[:8] == files["bars"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    on_disk = json.loads(files["json"].read_text())
    assert on_disk["schema"] == REPORT_SCHEMA
    assert on_disk["target"] == TARGET_LABEL and on_disk["attack"] == "badnet"
    assert on_disk["topk"] == list(TOPK)
    assert [r["method"] for r in on_disk["results"]] == ["none", "ft", "cleanclip", "cleanerclip", "par", "clean"]
    assert [r["label"] for r in on_disk["results"]] == [ROW_LABELS[m] for m in ROW_LABELS]
    for row in on_disk["results"]:
        assert set(row["ba"]) == set(row["asr"]) == {str(k) for k in TOPK}
        for rates in (row["ba"], row["asr"]):
            assert all(0.0 <= v <= 100.0 for v in rates.values())
            # Top-k accuracy can only grow with k.
            assert [rates[str(k)] for k in TOPK] == sorted(rates[str(k)] for k in TOPK)
        assert row["n_clean"] == TINY.eval_limit
    for row in on_disk["results"]:
        if row["method"] not in METHODS:
            continue
        assert [h["epoch"] for h in row["history"]] == [0, 1]
        assert {"ba_top1", "asr_top1"} <= set(row["history"][1])
        assert row["steps"] == TINY.rows // TINY.batch_size
        assert Path(row["model_dir"]).is_dir()
    assert on_disk["finetune_rows"] == TINY.rows


@pytestmark_slow
def test_the_clean_model_row_is_scanned_with_the_victims_trigger(report: dict, reference: str) -> None:
    """The floor: a never-poisoned model under the same trigger, images and target; nothing trained."""
    clean = report["results"][-1]
    assert (clean["method"], clean["label"], clean["model"]) == ("clean", "Clean model", reference)
    assert report["reference"] == reference and clean["history"] == [] and "steps" not in clean
    assert clean["n_clean"] == report["results"][0]["n_clean"] == TINY.eval_limit
    assert clean["n_triggered"] == report["results"][0]["n_triggered"]  # the same target: the same images
    assert "the floor no defense can go below" in Path(report["files"]["markdown"]).read_text()


@pytestmark_slow
def test_markdown_has_table_one_rows(report: dict) -> None:
    text = Path(report["files"]["markdown"]).read_text()
    assert text == render_markdown(report)
    for label in ROW_LABELS.values():
        assert f"| {label} |" in text
    assert "ASR@10" in text and "chart.png" in text


@pytestmark_slow
def test_progress_events_cover_every_stage(report: dict) -> None:
    from cleanerclip_tool.engine.events import EvalDone, StepDone
    from cleanerclip_tool.toyworld.demo import DemoPhase

    events = report["_events"]
    phases = [(e.phase, e.method) for e in events if isinstance(e, DemoPhase)]
    assert phases == [
        ("scan-before", ""),
        ("scan-clean", ""),
        ("purify", "ft"),
        ("purify", "cleanclip"),
        ("purify", "cleanerclip"),
        ("purify", "par"),
        ("report", ""),
    ]
    assert sum(isinstance(e, StepDone) for e in events) == 4 * (TINY.rows // TINY.batch_size)
    assert sum(isinstance(e, EvalDone) for e in events) == 4


@pytestmark_slow
def test_cli_renders_the_report_table(report: dict, capsys: pytest.CaptureFixture[str]) -> None:
    from cleanerclip_tool.cli.commands.demo import render_report

    render_report({k: v for k, v in report.items() if k != "_events"})
    err = capsys.readouterr().err
    for label in ROW_LABELS.values():
        assert label in err
    assert "report.json" in err and "the floor no defense can go below" in " ".join(err.split())


def test_unknown_toy_model_exits_2_listing_known() -> None:
    from cleanerclip_tool.cli.app import app

    result = CliRunner().invoke(app, ["demo", "--attack", "no-such-attack"])
    assert result.exit_code == 2
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert "no-such-attack" in output
    for name in list_toy_models():
        assert f"toy:{name}" in output


def test_purify_overrides_win_over_the_schedule(world, model_spec: str, tmp_path, monkeypatch) -> None:
    """An ablation may override any PurifyConfig field, the schedule's own ones (samples) included."""
    import dataclasses

    import cleanerclip_tool.engine as engine

    seen: list = []

    def fake_purify(loaded, table, config, **_kw):
        seen.append(config)
        raise RuntimeError("stop after the config")

    monkeypatch.setattr(engine, "purify", fake_purify)
    settings = dataclasses.replace(TINY, purify_overrides={"samples": 8, "lambda2": 2.0})
    with pytest.raises(RuntimeError, match="stop after the config"):
        run_demo(
            tmp_path / "demo",
            attack="badnet",
            model=model_spec,
            settings=settings,
            world=world,
            methods=("cleanerclip",),
            reference=None,
            chart=False,
        )
    assert (seen[0].samples, seen[0].lambda2, seen[0].epochs) == (8, 2.0, TINY.epochs)
