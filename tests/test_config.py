from __future__ import annotations

from pathlib import Path

import pytest

from cleanerclip_tool.config import PurifyConfig, build_purify_config, dump_toml
from cleanerclip_tool.errors import BadInputError


def test_defaults_are_the_papers() -> None:
    cfg = PurifyConfig()
    assert (cfg.batch_size, cfg.epochs, cfg.weight_decay) == (64, 10, 0.1)
    assert (cfg.beta1, cfg.beta2, cfg.eps) == (0.9, 0.999, 1e-8)
    assert cfg.lambda1 == 1.0 and cfg.tau_neg == 0.3 and cfg.tau_pos >= cfg.tau_neg
    assert cfg.samples == 1000 and cfg.warmup == 10_000
    cfg.validate()


@pytest.mark.parametrize(
    ("change", "word"),
    [
        ({"tau_pos": 0.0}, "tau_pos"),
        ({"tau_neg": -1.0}, "tau_neg"),
        ({"lambda2": -0.5}, "lambda2"),
        ({"samples": 0}, "samples"),
        ({"method": "magic"}, "method"),
        ({"precision": "fp8"}, "precision"),
        ({"tau_pos": float("nan")}, "tau_pos"),
        ({"negative_set": "all"}, "negative_set"),
        ({"cfa_side": "sideways"}, "cfa_side"),
        ({"cfa_t2i": "texts"}, "cfa_t2i"),
        ({"cfa_temperature": "hot"}, "cfa_temperature"),
        ({"cfa_form": "hinge"}, "cfa_form"),
        ({"cfa_schedule": "often"}, "cfa_schedule"),
    ],
)
def test_bad_values_are_named(change: dict, word: str) -> None:
    with pytest.raises(BadInputError, match=word):
        PurifyConfig(**change).validate()


def test_toml_then_flags_override(tmp_path: Path) -> None:
    path = tmp_path / "run.toml"
    path.write_text('[purify]\nmethod = "cleanclip"\nepochs = 3\nlr = 0.0003\n')
    cfg = build_purify_config(path, {"epochs": 5, "samples": None})
    assert cfg.method == "cleanclip" and cfg.epochs == 5 and cfg.lr == 3e-4 and cfg.samples == 1000


def test_toml_round_trip(tmp_path: Path) -> None:
    cfg = PurifyConfig(method="ft", samples=50, tau_pos=0.7, out="runs/x")
    path = tmp_path / "c.toml"
    path.write_text(dump_toml(cfg))
    assert build_purify_config(path) == cfg


def test_toml_unknown_key_and_syntax(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[purify]\nlamda1 = 2\n")
    with pytest.raises(BadInputError, match="lamda1"):
        build_purify_config(bad)
    broken = tmp_path / "broken.toml"
    broken.write_text("[purify\n")
    with pytest.raises(BadInputError, match="not valid TOML"):
        build_purify_config(broken)
    with pytest.raises(BadInputError, match="not found"):
        build_purify_config(tmp_path / "missing.toml")


def test_problems_name_each_bad_field_and_validate_says_them_all() -> None:
    cfg = PurifyConfig(tau_pos=0.0, epochs=0, warmup=-1, workers=-1, method="magic")
    problems = cfg.problems()
    assert set(problems) == {"method", "tau_pos", "epochs", "warmup", "workers"}
    assert problems["tau_pos"] == "tau_pos must be > 0 (got 0.0)"
    assert problems["warmup"] == problems["workers"] == "warmup and workers must be >= 0"
    with pytest.raises(BadInputError) as caught:
        cfg.validate()
    # the joined message, in the rules' order, each message once
    assert caught.value.message == (
        "method must be one of cleanerclip, cleanclip, ft, par (got 'magic'); tau_pos must be > 0 (got 0.0); "
        "epochs must be >= 1 (got 0); warmup and workers must be >= 0"
    )
    assert PurifyConfig().problems() == {}


def test_default_of_reads_the_dataclass() -> None:
    from cleanerclip_tool.config import default_of

    assert default_of("image_key") == "filepath" and default_of("extra") == {}
    assert default_of("max_bad_rows_in_a_row") == PurifyConfig().max_bad_rows_in_a_row
    with pytest.raises(KeyError):
        default_of("no_such_field")


def test_cfa_readings_default_to_the_reconstruction_and_name_their_choices(tmp_path: Path) -> None:
    from cleanerclip_tool.config import CFA_READINGS, default_of

    # the first value of each reading is the default: docs/cfa-reconstruction.md's equations
    assert {name: default_of(name) for name in CFA_READINGS} == {name: vals[0] for name, vals in CFA_READINGS.items()}
    assert PurifyConfig(cfa_side="sideways").problems() == {
        "cfa_side": "cfa_side must be 'both', 'text' or 'image' (got 'sideways')"
    }
    assert PurifyConfig(negative_set="all").problems() == {
        "negative_set": "negative_set must be 'batch' or 'own' (got 'all')"
    }
    path = tmp_path / "reading.toml"
    path.write_text('[purify]\ncfa_side = "text"\ncfa_t2i = "own_negative"\ncfa_schedule = "alternate"\n')
    cfg = build_purify_config(path, {"cfa_temperature": "scale"})
    assert (cfg.cfa_side, cfg.cfa_t2i, cfg.cfa_temperature, cfg.cfa_schedule) == (
        "text",
        "own_negative",
        "scale",
        "alternate",
    )
    assert cfg.cfa_form == "softmax"
    path.write_text(dump_toml(cfg))
    assert build_purify_config(path) == cfg
