from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
import torch
from engine_fixtures import draw_caption_set, tiny_loaded

from cleanerclip_tool.config import PurifyConfig
from cleanerclip_tool.data.captions import load_caption_table
from cleanerclip_tool.engine import purify
from cleanerclip_tool.engine.checkpoint import latest_valid_checkpoint, list_checkpoints
from cleanerclip_tool.engine.events import StepDone
from cleanerclip_tool.errors import BadInputError


class FakeSubCaptioner:
    """Deterministic sub-captions without spaCy: keeps the engine tests fast and focused."""

    def batch(self, captions, *, seed=0):
        from cleanerclip_tool.augment import SubCaption

        return [
            SubCaption(c, c, c.replace("above", "below").replace("left", "right"), "relation", True) for c in captions
        ]


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory):
    return load_caption_table(draw_caption_set(tmp_path_factory.mktemp("data"), n=32))


def _config(out: Path, method: str, **kw) -> PurifyConfig:
    base = dict(
        method=method,
        samples=16,
        epochs=2,
        batch_size=8,
        lr=2e-3,
        warmup=1,
        workers=0,
        out=str(out),
        checkpoint_every=2,
        seed=3,
    )
    base.update(kw)
    return PurifyConfig(**base)


@pytest.mark.parametrize("method", ["ft", "cleanclip", "cleanerclip"])
def test_each_method_trains_and_lowers_its_loss(table, tmp_path: Path, method: str) -> None:
    cfg = _config(tmp_path / method, method, epochs=3)
    result = purify(tiny_loaded(), table, cfg, subcaptioner=FakeSubCaptioner())
    first, last = result.history[0]["losses"], result.history[-1]["losses"]
    assert last["total"] < first["total"]
    assert result.steps == 3 * (32 // 8)
    expected = {
        "ft": {"clip", "total"},
        "cleanclip": {"clip", "inmodal", "total"},
        "cleanerclip": {"clip", "inmodal", "cfa", "total"},
    }[method]
    assert set(result.final_losses) == expected
    assert (result.model_dir / "open_clip_model.safetensors").is_file()
    summary = result.summary()
    assert summary["method"] == method and summary["final_losses"]["clip"] is not None


@pytest.mark.slow  # three short runs: ~25 s on an idle 2-core machine
def test_stop_then_resume_equals_uninterrupted(table, tmp_path: Path) -> None:
    full = purify(tiny_loaded(), table, _config(tmp_path / "full", "cleanerclip"), subcaptioner=FakeSubCaptioner())

    stop = threading.Event()

    def stop_at_step_3(event) -> None:
        if isinstance(event, StepDone) and event.step == 3:
            stop.set()

    out = tmp_path / "stopped"
    first = purify(
        tiny_loaded(),
        table,
        _config(out, "cleanerclip"),
        subcaptioner=FakeSubCaptioner(),
        on_event=stop_at_step_3,
        stop=stop,
    )
    assert first.stopped and first.steps == 3 and first.model_dir is None
    _path, state = latest_valid_checkpoint(out)
    assert state["step"] == 3
    resumed = purify(tiny_loaded(), table, _config(out, "cleanerclip"), subcaptioner=FakeSubCaptioner(), resume=True)
    assert resumed.steps == full.steps
    a = full.model_dir / "open_clip_model.safetensors"
    b = resumed.model_dir / "open_clip_model.safetensors"
    from safetensors.torch import load_file

    wa, wb = load_file(str(a)), load_file(str(b))
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-5, atol=1e-6)


def test_checkpoints_are_pruned_and_weights_only(table, tmp_path: Path) -> None:
    purify(
        tiny_loaded(),
        table,
        _config(tmp_path / "o", "ft", epochs=1, checkpoint_every=1, keep_checkpoints=2),
        subcaptioner=FakeSubCaptioner(),
    )
    kept = list_checkpoints(tmp_path / "o")
    assert len(kept) == 2
    torch.load(kept[-1], weights_only=True)  # no pickled objects inside


def test_bad_configs(table, tmp_path: Path) -> None:
    with pytest.raises(BadInputError, match="samples K=100"):
        purify(
            tiny_loaded(), table, _config(tmp_path / "a", "cleanerclip", samples=100), subcaptioner=FakeSubCaptioner()
        )
    with pytest.raises(BadInputError, match="tau_pos"):
        purify(tiny_loaded(), table, _config(tmp_path / "b", "cleanerclip", tau_pos=0.0))
    with pytest.raises(BadInputError, match="batch size"):
        purify(tiny_loaded(), table, _config(tmp_path / "c", "ft", batch_size=64))


def test_cfa_batch_rows_cycle_through_s_alone() -> None:
    from cleanerclip_tool.engine.samples import cfa_batch_rows

    s_rows = [3, 5, 8, 13, 21, 34, 55]
    first = [cfa_batch_rows(s_rows, seed=1, epoch=0, index=i, size=3) for i in range(7)]
    assert all(len(rows) == len(set(rows)) == 3 and set(rows) <= set(s_rows) for rows in first)
    # consecutive batches walk one shuffled order, so 7 batches of 3 use every row of S 3 times
    assert sorted(r for rows in first for r in rows) == sorted(s_rows * 3)
    assert first == [cfa_batch_rows(s_rows, seed=1, epoch=0, index=i, size=3) for i in range(7)]  # resumable
    assert cfa_batch_rows(s_rows, seed=1, epoch=0, index=0, size=64) != []  # a batch larger than S: S once
    assert sorted(cfa_batch_rows(s_rows, seed=1, epoch=0, index=0, size=64)) == sorted(s_rows)
    ranks = [cfa_batch_rows(s_rows, seed=1, epoch=0, index=0, size=3, rank=r, world_size=2) for r in (0, 1)]
    assert not set(ranks[0]) & set(ranks[1])
    assert cfa_batch_rows([], seed=1, epoch=0, index=0, size=3) == []


@pytest.mark.parametrize(
    ("schedule", "samples", "cfa_steps"),
    [("alternate", 16, {1, 3}), ("interleave", 8, {3})],  # 4 steps of 8 rows; S fills 2 batches, then 1
)
def test_cfa_only_steps_train_l_cfa_on_s_alone(
    table, tmp_path: Path, monkeypatch, schedule: str, samples: int, cfa_steps: set[int]
) -> None:
    """cfa_schedule="alternate" / "interleave": a CFA step weighs only λ2 · L_CFA, on a batch made of
    the epoch's S alone; the other steps weigh only CleanCLIP's terms, on the loader's batch."""
    from cleanerclip_tool.engine import step as engine_step
    from cleanerclip_tool.engine.samples import draw_cfa_samples

    calls: list[tuple[dict[str, float], list[int]]] = []
    forward = engine_step.forward_loss

    def recording(model, loss_fn, batch, tokens, *args, **kwargs):
        calls.append((dict(loss_fn.weights), batch["row"].tolist()))
        return forward(model, loss_fn, batch, tokens, *args, **kwargs)

    monkeypatch.setattr(engine_step, "forward_loss", recording)
    steps: list[StepDone] = []
    cfg = _config(tmp_path / schedule, "cleanerclip", epochs=1, samples=samples, lambda2=2.0, cfa_schedule=schedule)
    result = purify(
        tiny_loaded(),
        table,
        cfg,
        subcaptioner=FakeSubCaptioner(),
        on_event=lambda e: steps.append(e) if isinstance(e, StepDone) else None,
    )
    assert result.steps == len(steps) == len(calls) == 4
    s_rows = set(draw_cfa_samples(32, samples, seed=3, epoch=0))
    cfa_rows: list[int] = []
    for k, (event, (weights, rows)) in enumerate(zip(steps, calls, strict=True)):
        losses = event.losses
        assert set(losses) == {"clip", "inmodal", "cfa", "total"}
        if k not in cfa_steps:  # CleanCLIP's step: L_CFA reported, weighted 0
            assert weights == {"clip": 1.0, "inmodal": 1.0, "cfa": 0.0}
            assert losses["total"] == pytest.approx(losses["clip"] + losses["inmodal"], rel=1e-5)
        else:  # CFA's step: on S alone, the CleanCLIP terms reported, weighted 0
            assert weights == {"clip": 0.0, "inmodal": 0.0, "cfa": 2.0}
            assert set(rows) <= s_rows and len(rows) == len(set(rows)) == 8
            assert losses["total"] == pytest.approx(2.0 * losses["cfa"], rel=1e-5)
            cfa_rows += rows
    assert sorted(cfa_rows) == sorted(s_rows)  # one pass over S
    card = json.loads((result.model_dir / "cleanerclip_card.json").read_text())
    entry = next(h for h in reversed(card["history"]) if h.get("action") == "purify")
    assert (entry["cfa_schedule"], entry["cfa_side"], entry["negative_set"]) == (schedule, "both", "batch")
