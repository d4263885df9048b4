"""Two gloo processes on the CPU compute the same loss as one process over the same global batch."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

TESTS = str(Path(__file__).parent)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _first_step_loss(rank: int, world: int, data: str, batch: int, out: str, port: int, method: str) -> None:
    sys.path.insert(0, TESTS)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), WORLD_SIZE=str(world), RANK=str(rank))
    from engine_fixtures import tiny_loaded
    from test_engine import FakeSubCaptioner

    from cleanerclip_tool.config import PurifyConfig
    from cleanerclip_tool.data.captions import load_caption_table
    from cleanerclip_tool.data.dataset import EpochSampler, PurifyDataset
    from cleanerclip_tool.engine.distributed import DistInfo, init_distributed
    from cleanerclip_tool.engine.samples import subcaption_tokens
    from cleanerclip_tool.engine.state import frozen_copy
    from cleanerclip_tool.engine.step import forward_loss
    from cleanerclip_tool.losses import PurifyLoss

    torch.set_num_threads(1)
    dist = init_distributed("cpu") if world > 1 else DistInfo()
    table = load_caption_table(data)
    loaded = tiny_loaded(seed=5)
    model = loaded.model
    model.output_dict = True
    cfg = PurifyConfig.for_method(method, samples=12, batch_size=batch, seed=1)
    loss_fn = PurifyLoss.from_config(cfg)
    rows = table.rows
    aug = [r.caption.replace("a ", "one ", 1) for r in rows] if loss_fn.needs("augmented") else None
    ds = PurifyDataset(
        rows,
        preprocess=loaded.preprocess,
        tokenizer=loaded.tokenizer,
        aug_captions=aug,
        augment_images=loss_fn.needs("augmented_images"),
        seed=1,
    )
    # PAR's reference: another model than the trained one, so the gathered distances are not all 0.
    frozen = frozen_copy(tiny_loaded(seed=6).model) if loss_fn.needs("frozen") else None
    if frozen is not None:
        frozen.output_dict = True
    sampler = EpochSampler(len(rows), batch_size=batch, seed=1, rank=dist.rank, world_size=dist.world_size)
    sampler.set_epoch(0)
    loader = torch.utils.data.DataLoader(ds, batch_size=batch, sampler=sampler, num_workers=0)
    cfa = subcaption_tokens(FakeSubCaptioner(), rows, cfg, 0, loaded.tokenizer, lambda e: None)
    batch = next(iter(loader))
    terms = forward_loss(model, loss_fn, batch, cfa, torch.device("cpu"), contextlib.nullcontext, dist, frozen=frozen)
    if dist.is_main:
        torch.save({k: v.detach() for k, v in terms.items()}, out)
    if world > 1:
        torch.distributed.destroy_process_group()


TERMS = {"cleanerclip": {"clip", "inmodal", "cfa", "total"}, "par": {"clip_fixed_scale", "perturb", "total"}}


@pytest.mark.slow
@pytest.mark.parametrize("method", sorted(TERMS))
def test_two_gloo_processes_match_one(tmp_path: Path, method: str) -> None:
    from engine_fixtures import draw_caption_set

    data = str(draw_caption_set(tmp_path / "data", n=32))
    single, double = tmp_path / "single.pt", tmp_path / "double.pt"
    _first_step_loss(0, 1, data, 16, str(single), 0, method)
    mp.spawn(_first_step_loss, args=(2, data, 8, str(double), _free_port(), method), nprocs=2, join=True)
    a, b = torch.load(single), torch.load(double)
    assert set(a) == set(b) == TERMS[method]
    if method == "par":
        assert float(a["perturb"]) < 0  # the frozen copy differs from the model: a real distance was gathered
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
