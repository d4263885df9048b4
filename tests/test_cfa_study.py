"""The CFA study's rules (benchmarks/cfa_study.py): the picks the pre-registered plan makes mechanically."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def study():
    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location("cfa_study", REPO / "benchmarks" / "cfa_study.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["cfa_study"] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _cells(badnet: tuple[float, float], badclip: tuple[float, float]) -> dict:
    return {"badnet": badnet, "badclip": badclip}


def test_stage_rule_ranks_by_asr_among_configurations_that_keep_ba(study) -> None:
    a, text, alternate, scale = study.READING_A, *study.STAGE1[:2], study.STAGE1[5]
    scores = {
        a: _cells((60, 88), (80, 90)),
        text: _cells((20, 91), (30, 91)),
        alternate: _cells((19.5, 91), (30, 91)),  # 0.25 better than text: a tie, text is nearer A... both 1 option
        scale: _cells((5, 80), (5, 80)),  # lowest ASR but 12 points of BA lost: not eligible
    }
    ranked, tolerance = study.rank(scores, {"badnet": 92.0, "badclip": 92.0}, a, [a, text, alternate, scale])
    assert tolerance == 2.0
    # text and alternate tie (within 1 point) and change one option each: the earlier in the list wins
    assert ranked[:2] == [text, alternate]
    assert ranked[2:] == [scale, a]  # the ineligible follow, by ASR (A lost 4 points of BA)


def test_stage_rule_widens_the_ba_tolerance_only_until_one_configuration_fits(study) -> None:
    a, scale = study.READING_A, study.STAGE1[5]
    scores = {a: _cells((60, 88), (80, 87)), scale: _cells((5, 80), (5, 80))}
    ranked, tolerance = study.rank(scores, {"badnet": 92.0, "badclip": 92.0}, a, [a, scale])
    assert tolerance == 5.0 and ranked == [a, scale]


def test_a_tie_goes_to_fewer_options_changed(study) -> None:
    text = study.STAGE1[0]
    combo = text.combined(study.STAGE1[3])
    assert combo.distance(study.READING_A) == 2 and text.distance(study.READING_A) == 1
    scores = {combo: _cells((10, 92), (10, 92)), text: _cells((10.8, 92), (10.8, 92))}
    ranked, _ = study.rank(scores, {"badnet": 92.0, "badclip": 92.0}, study.READING_A, [combo, text])
    assert ranked[0] == text


def test_default_rule_needs_ba_and_a_margin_over_the_seed_spread(study) -> None:
    cleanclip = {s: _cells((20 + s, 92), (70 + s, 92)) for s in range(3)}
    close = {s: _cells((19 + s, 91), (69 + s, 91)) for s in range(3)}  # 1 point better, sd 1: not enough
    far = {s: _cells((5 + s, 91), (20 + s, 91)) for s in range(3)}
    cheap = {s: _cells((5 + s, 85), (20 + s, 85)) for s in range(3)}  # better, but 7 points of BA lost
    assert not study.beats(close, cleanclip)["wins"]
    assert study.beats(far, cleanclip)["wins"]
    verdict = study.beats(cheap, cleanclip)
    assert verdict["asr_ok"] and not verdict["ba_ok"] and not verdict["wins"]


def test_configurations_with_the_same_overrides_are_the_same_cells(study) -> None:
    again = study.Config("another label", {"cfa_side": "text"})
    assert again == study.STAGE1[0] and hash(again) == hash(study.STAGE1[0])
    assert study.READING_A.tag == "" and study.STAGE1[0].tag == "-cfa-cfa_side=text"
