"""Promise 8: bad input at the CLI. Every command, given wrong types, out-of-range values, missing
files, unknown names or conflicting flags, exits 2 with a short message and never a traceback.

The commands run in-process through Typer's runner (a subprocess per case would cost seconds of
torch import each); the runner keeps any escaping exception in ``result.exception``, so a crash
cannot hide behind the exit code.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from engine_fixtures import draw_caption_set
from typer.testing import CliRunner

from cleanerclip_tool.cli.app import COMMAND_MODULES, app

MISSING = "/nonexistent/cleanerclip-missing"


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return draw_caption_set(tmp_path_factory.mktemp("data"), n=8)


@pytest.fixture(scope="module")
def full_out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("full")
    (folder / "something.txt").write_text("not yours to overwrite\n")
    return folder


# (command words, extra args, a pattern the message must contain). {data}, {out} and {full} are filled in.
CASES: list = [
    # purify: each bad value is named before any model is loaded (the model spec does not exist)
    ("purify-negative-K", ["purify", "toy:clean", "--data", "{data}", "--samples", "-1", "--out", "{out}"], "samples"),
    ("purify-tau-pos-zero", ["purify", "toy:clean", "--data", "{data}", "--tau-pos", "0", "--out", "{out}"], "tau"),
    (
        "purify-tau-neg-negative",
        ["purify", "toy:clean", "--data", "{data}", "--tau-neg", "-0.5", "--out", "{out}"],
        "tau",
    ),
    (
        "purify-lambda1-negative",
        ["purify", "toy:clean", "--data", "{data}", "--lambda1", "-1", "--out", "{out}"],
        "lambda1",
    ),
    (
        "purify-lambda2-negative",
        ["purify", "toy:clean", "--data", "{data}", "--lambda2", "-1", "--out", "{out}"],
        "lambda2",
    ),
    ("purify-epochs-wrong-type", ["purify", "toy:clean", "--data", "{data}", "--epochs", "many"], "epochs"),
    ("purify-batch-zero", ["purify", "toy:clean", "--data", "{data}", "--batch-size", "0", "--out", "{out}"], "batch"),
    ("purify-lr-negative", ["purify", "toy:clean", "--data", "{data}", "--lr", "-1", "--out", "{out}"], "lr"),
    (
        "purify-unknown-method",
        ["purify", "toy:clean", "--data", "{data}", "--method", "magic", "--out", "{out}"],
        "method",
    ),
    (
        "purify-unknown-precision",
        ["purify", "toy:clean", "--data", "{data}", "--precision", "fp7", "--out", "{out}"],
        "precision",
    ),
    ("purify-missing-data", ["purify", "toy:clean", "--data", MISSING, "--out", "{out}"], "not found"),
    (
        "purify-missing-config",
        ["purify", "toy:clean", "--data", "{data}", "--config", MISSING, "--out", "{out}"],
        "cleanerclip-missing",
    ),
    ("purify-non-empty-out", ["purify", "toy:clean", "--data", "{data}", "--out", "{full}"], "not empty"),
    (
        "purify-K-above-rows",
        ["purify", "toy:clean", "--data", "{data}", "--samples", "999", "--strict", "--out", "{out}"],
        "samples",
    ),
    (
        "purify-missing-model",
        ["purify", MISSING + ".pt", "--data", "{data}", "--samples", "2", "--out", "{out}"],
        "cleanerclip-missing",
    ),
    ("info-missing-model", ["info", MISSING + ".pt"], "cleanerclip-missing"),
    ("info-unknown-arch", ["info", "NoSuchArch-999:openai"], "NoSuchArch"),
    ("fetch-missing-model", ["fetch", MISSING + ".pt"], "cleanerclip-missing"),
    ("augment-missing-data", ["augment", MISSING], "cleanerclip-missing"),
    ("augment-samples-zero", ["augment", "{data}", "--samples", "0"], "samples"),
    ("scan-topk-zero", ["scan", "toy:clean", "--topk", "0"], "topk"),
    ("scan-topk-wrong-type", ["scan", "toy:clean", "--topk", "one"], "topk"),
    ("scan-unknown-attack", ["scan", "toy:clean", "--attack", "nosuchattack"], "nosuchattack"),
    ("scan-missing-eval-data", ["scan", "toy:clean", "--eval-data", MISSING], "cleanerclip-missing"),
    ("scan-limit-zero", ["scan", "toy:clean", "--limit", "0"], "limit"),
    (
        "poison-unknown-attack",
        ["poison", "{data}", "--attack", "nosuchattack", "--target", "heart", "--count", "1", "--out", "{out}"],
        "nosuchattack",
    ),
    (
        "poison-negative-count",
        ["poison", "{data}", "--attack", "badnet", "--target", "heart", "--count", "-1", "--out", "{out}"],
        "count",
    ),
    (
        "poison-missing-data",
        ["poison", MISSING, "--attack", "badnet", "--target", "heart", "--count", "1", "--out", "{out}"],
        "cleanerclip-missing",
    ),
    (
        "poison-non-empty-out",
        ["poison", "{data}", "--attack", "badnet", "--target", "heart", "--count", "1", "--out", "{full}"],
        "empty",
    ),
    ("toyworld-generate-size-zero", ["toyworld", "generate", "--out", "{out}", "--size", "0"], "size"),
    ("toyworld-show-count-range", ["toyworld", "show", "--count", "0"], "count"),
    (
        "toyworld-pretrain-unknown-attack",
        ["toyworld", "pretrain", "--out", "{out}", "--attack", "nosuchattack"],
        "nosuchattack",
    ),
    (
        "trigger-train-ssba-steps-zero",
        ["trigger", "train-ssba", "{data}", "--out", "{out}/e.safetensors", "--steps", "0"],
        "steps",
    ),
    (
        "trigger-optimize-badclip-missing-data",
        ["trigger", "optimize-badclip", "toy:clean", "--data", MISSING, "--target", "heart", "--out", "{out}/p.png"],
        "cleanerclip-missing",
    ),
    ("demo-unknown-attack", ["demo", "--attack", "nosuchattack", "--out", "{out}"], "nosuchattack"),
    ("demo-unknown-device", ["demo", "--device", "quantum", "--out", "{out}", "--quick"], "quantum"),
    (
        "purify-unknown-device",
        ["purify", "toy:clean", "--data", "{data}", "--device", "quantum", "--out", "{out}"],
        "device",
    ),
    ("scan-unknown-device", ["scan", "toy:clean", "--device", "quantum", "--limit", "4"], "quantum"),
    ("tui-unknown-option", ["tui", "--no-such-flag"], "no-such-flag"),
    ("push-missing-folder", ["push", MISSING, "hf-hub:me/model", "--dry-run"], "cleanerclip-missing"),
    ("detect-bad-templates", ["detect", "toy:clean", "--templates", "fancy"], "openai or simple"),
    ("detect-missing-eval-data", ["detect", "toy:clean", "--eval-data", MISSING], "cleanerclip-missing"),
    ("push-bad-target", ["push", "{out}", "hf-hub:no-org", "--dry-run"], "org/name"),
    ("scan-gate-threshold-percent", ["scan", "toy:clean", "--fail-above", "20"], "fail-above"),
    ("scan-gate-bad-metric", ["scan", "toy:clean", "--fail-above", "0.2", "--fail-metric", "ba@1"], "fail-metric"),
]


def test_every_command_has_a_bad_input_case() -> None:
    covered = {(case.values if hasattr(case, "values") else case)[1][0] for case in CASES}
    assert set(COMMAND_MODULES) <= covered, set(COMMAND_MODULES) - covered


@pytest.mark.parametrize(("name", "args", "expect"), CASES, ids=[c[0] if isinstance(c, tuple) else c.id for c in CASES])
def test_bad_input_exits_2_with_a_short_message(
    name: str, args: list[str], expect: str, data: Path, full_out: Path, tmp_path: Path
) -> None:
    filled = [a.format(data=data, out=tmp_path / "out", full=full_out) for a in args]
    result = CliRunner().invoke(app, filled, env={"COLUMNS": "200", "NO_COLOR": "1"})
    output = result.output  # stdout and stderr interleaved
    assert result.exit_code == 2, (result.exit_code, output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output
    assert re.search(re.escape(expect), output, re.IGNORECASE), output
    message = [line for line in output.splitlines() if line.strip(" │╭╰─╮╯")]
    # Our own errors are one line; Click's usage errors add a usage line and a hint box (<= 6 lines).
    assert len(message) <= 6, output
    assert not (tmp_path / "out" / "model").exists()  # nothing was trained or saved
