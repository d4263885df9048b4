"""PAR (Perturb and Recover) as ``--method par``: its loss, its recipe, its frozen copy, resume."""

from __future__ import annotations

import contextlib
import math
import threading
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from engine_fixtures import draw_caption_set, tiny_loaded

from cleanerclip_tool.config import METHOD_DEFAULTS, PurifyConfig, build_purify_config
from cleanerclip_tool.data.captions import load_caption_table
from cleanerclip_tool.engine import purify
from cleanerclip_tool.engine import step as engine_step
from cleanerclip_tool.engine.events import StepDone
from cleanerclip_tool.engine.schedule import lr_at
from cleanerclip_tool.engine.state import model_fingerprint
from cleanerclip_tool.errors import BadInputError
from cleanerclip_tool.losses import GatheredFeatures, PurifyLoss, par_perturb_loss

ROWS, BATCH = 24, 8


def _unit(*shape: int) -> torch.Tensor:
    return F.normalize(torch.randn(*shape, dtype=torch.float64), dim=-1)


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory):
    return load_caption_table(draw_caption_set(tmp_path_factory.mktemp("data"), n=ROWS))


def _config(out: Path, **kw) -> PurifyConfig:
    base = dict(epochs=2, batch_size=BATCH, lr=1e-3, lr_start=None, warmup=1, warmup_epochs=None, workers=0, seed=2)
    base.update(kw)
    return PurifyConfig.for_method("par", out=str(out), **base)


def test_perturb_term_matches_its_definition_and_stops_above_the_threshold() -> None:
    torch.manual_seed(0)
    img, fimg, txt, ftxt = _unit(6, 8), _unit(6, 8), _unit(6, 8), _unit(6, 8)
    d_img = sum(float(((img[i] - fimg[i]) ** 2).sum()) for i in range(6)) / 6
    d_txt = sum(float(((txt[i] - ftxt[i]) ** 2).sum()) for i in range(6)) / 6
    loss = par_perturb_loss(img, fimg, txt, ftxt, threshold=4.0)
    assert float(loss) == pytest.approx(-0.5 * (d_img + d_txt), rel=1e-12)
    # a distance above the threshold is dropped: only the other one is left, and it gets no gradient
    img.requires_grad_(True)
    cut = min(d_img, d_txt) + (abs(d_img - d_txt) / 2)
    loss = par_perturb_loss(img, fimg, txt, ftxt, threshold=cut)
    kept = d_txt if d_img > cut else d_img
    assert float(loss.detach()) == pytest.approx(-0.5 * kept, rel=1e-12)
    loss.backward()
    assert (img.grad.abs().sum() == 0) == (d_img > cut)


def test_par_preset_holds_the_temperature_constant_and_needs_the_frozen_copy() -> None:
    loss = PurifyLoss.from_config(PurifyConfig.for_method("par"))
    assert loss.weights == {"clip_fixed_scale": 1.0, "perturb": 1.0}
    assert loss.needs("frozen") and loss.needs("augmented_images")
    assert not loss.needs("augmented") and not loss.needs("subcaptions")
    img, txt = _unit(4, 8).requires_grad_(True), _unit(4, 8)
    scale = torch.tensor(12.0, dtype=torch.float64, requires_grad=True)
    features = GatheredFeatures(img, txt, scale, frozen_image=img.detach().clone(), frozen_text=_unit(4, 8))
    terms = loss(features)
    assert set(terms) == {"clip_fixed_scale", "perturb", "total"}
    terms["total"].backward()
    assert img.grad is not None and scale.grad is None  # PAR reads the scale with .item(): no gradient


def test_par_recipe_is_the_default_for_par_and_every_value_can_be_overridden(tmp_path: Path) -> None:
    recipe = METHOD_DEFAULTS["par"]
    assert build_purify_config(overrides={"method": "par"}) == PurifyConfig(method="par", **recipe)
    assert build_purify_config(overrides={"method": "par", "lr": 1e-4}).lr == 1e-4
    toml = tmp_path / "c.toml"
    toml.write_text('[purify]\nmethod = "par"\nepochs = 5\npar_threshold = 1.5\n')
    config = build_purify_config(toml)
    assert (config.epochs, config.par_threshold, config.beta2) == (5, 1.5, 0.98)
    assert build_purify_config(overrides={"method": "ft"}).lr == PurifyConfig().lr  # other methods unchanged


def test_lr_schedule_with_start_and_end_is_pars_linspace_then_cosine() -> None:
    """The reference is PAR's utils.cosine_scheduler written out: linspace(start, base, warmup), then
    end + (base - end) * (1 + cos(pi * i / n)) / 2 over the remaining n steps."""
    base, start, end, warmup, total = 3e-6, 3e-5, 1e-9, 5, 20
    n = total - warmup
    expected = [start + (base - start) * i / (warmup - 1) for i in range(warmup)]
    expected += [end + 0.5 * (base - end) * (1 + math.cos(math.pi * i / n)) for i in range(n)]
    got = [lr_at(i, base_lr=base, warmup=warmup, total_steps=total, start=start, end=end) for i in range(total)]
    assert got == pytest.approx(expected, rel=1e-12)
    assert lr_at(3, base_lr=1.0, warmup=10, total_steps=20) == 0.4  # unset start: CleanCLIP's ramp as before


def test_par_run_trains_against_a_frozen_copy_of_the_start(table, tmp_path: Path) -> None:
    loaded = tiny_loaded()
    start = model_fingerprint(loaded.model)
    scale = float(loaded.model.logit_scale)
    seen: list[dict[str, float]] = []
    result = purify(
        loaded, table, _config(tmp_path / "o"), on_event=lambda e: isinstance(e, StepDone) and seen.append(e.losses)
    )
    assert result.steps == 2 * (ROWS // BATCH) and not result.stopped
    assert set(seen[0]) == {"clip_fixed_scale", "perturb", "total"}
    assert seen[0]["perturb"] == pytest.approx(0.0, abs=1e-6)  # step 1: the model is its frozen copy
    assert seen[-1]["perturb"] < 0  # later steps have moved away from it
    assert model_fingerprint(loaded.model) != start
    assert float(loaded.model.logit_scale) == scale  # no gradient reaches the temperature
    assert result.summary()["final_losses"]["perturb"] == seen[-1]["perturb"]


def test_par_resume_rebuilds_the_frozen_copy_and_matches_an_uninterrupted_run(table, tmp_path: Path) -> None:
    whole = tiny_loaded()
    purify(whole, table, _config(tmp_path / "whole"))

    stop, steps = threading.Event(), []

    def stop_after_two(event) -> None:
        if isinstance(event, StepDone):
            steps.append(event.step)
            if len(steps) == 2:
                stop.set()

    out = tmp_path / "parts"
    first = purify(tiny_loaded(), table, _config(out), on_event=stop_after_two, stop=stop)
    assert first.stopped and first.steps == 2
    resumed = tiny_loaded()  # the same MODEL again: the frozen copy is rebuilt from it
    result = purify(resumed, table, _config(out), resume=True)
    assert result.steps == 2 * (ROWS // BATCH)
    for (name, a), b in zip(whole.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), name

    with pytest.raises(BadInputError, match="another starting model"):
        purify(tiny_loaded(seed=9), table, _config(tmp_path / "parts"), resume=True)


def test_par_runs_under_amp_with_a_grad_scaler(table, tmp_path: Path, monkeypatch) -> None:
    """AMP's code path (GradScaler: scale, unscale, step, update) with the frozen forward pass in it;
    on the CPU the autocast itself is a no-op, as in the other methods' AMP test."""
    monkeypatch.setattr(engine_step, "autocast_for", lambda device, precision: (contextlib.nullcontext, True))
    result = purify(tiny_loaded(), table, _config(tmp_path / "amp", epochs=1))
    assert result.steps == ROWS // BATCH and result.amp_skipped_steps == 0
    assert math.isfinite(result.final_losses["total"])


def test_warmup_epochs_sets_the_warmup_in_steps(table, tmp_path: Path) -> None:
    lrs: list[float] = []
    config = _config(tmp_path / "w", warmup_epochs=1.0, lr_start=1e-2, lr=1e-3, lr_end=0.0)
    purify(tiny_loaded(), table, config, on_event=lambda e: isinstance(e, StepDone) and lrs.append(e.lr))
    per_epoch = ROWS // BATCH
    assert lrs[:per_epoch] == pytest.approx([1e-2 + (1e-3 - 1e-2) * i / (per_epoch - 1) for i in range(per_epoch)])
    assert lrs[per_epoch] == pytest.approx(1e-3) and lrs[-1] < 1e-3
