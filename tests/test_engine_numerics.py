"""A purified model loads with plain open_clip; non-finite losses are skipped, counted and stop the run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from engine_fixtures import draw_caption_set, tiny_loaded
from test_engine import FakeSubCaptioner

from cleanerclip_tool.config import PurifyConfig
from cleanerclip_tool.data.captions import load_caption_table
from cleanerclip_tool.engine import purify
from cleanerclip_tool.engine.checkpoint import latest_valid_checkpoint
from cleanerclip_tool.engine.events import StepSkipped
from cleanerclip_tool.errors import JobFailedError


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory):
    return load_caption_table(draw_caption_set(tmp_path_factory.mktemp("data"), n=16))


def _config(out: Path, **kw) -> PurifyConfig:
    base = dict(method="ft", samples=4, epochs=1, batch_size=8, lr=1e-3, warmup=1, workers=0, out=str(out), seed=2)
    base.update(kw)
    return PurifyConfig(**base)


def test_purified_model_loads_with_plain_open_clip(table, tmp_path: Path) -> None:
    import open_clip

    loaded = tiny_loaded()
    result = purify(loaded, table, _config(tmp_path / "o", method="cleanerclip"), subcaptioner=FakeSubCaptioner())
    plain, _, _ = open_clip.create_model_and_transforms(f"local-dir:{result.model_dir}")
    plain.eval()
    image = torch.rand(2, 3, 32, 32)
    with torch.no_grad():  # purify trains loaded.model in place: the file must hold exactly those weights
        torch.testing.assert_close(plain.encode_image(image), loaded.model.encode_image(image))
    card = json.loads((result.model_dir / "cleanerclip_card.json").read_text())
    assert "cleanerclip" in json.dumps(card) and table.csv_path.name in json.dumps(card)


def test_non_finite_loss_skips_steps_then_stops_with_the_step_number(table, tmp_path: Path) -> None:
    loaded = tiny_loaded()
    with torch.no_grad():
        loaded.model.logit_scale.fill_(float("nan"))
    before = {k: v.clone() for k, v in loaded.model.state_dict().items()}
    events: list = []
    with pytest.raises(JobFailedError, match=r"2 steps with a non-finite loss \(last at step 1\)"):
        purify(loaded, table, _config(tmp_path / "o", max_bad_steps=2, epochs=2), on_event=events.append)
    skipped = [e for e in events if isinstance(e, StepSkipped)]
    assert [e.count for e in skipped] == [1, 2]
    after = loaded.model.state_dict()
    for k, v in before.items():  # skipped steps never touch the weights
        torch.testing.assert_close(after[k], v, equal_nan=True)
    assert latest_valid_checkpoint(tmp_path / "o") is not None
