"""torchrun support: process-group set-up and feature gathering with gradients.

Contrastive losses need every rank's features as negatives, so features are all-gathered with
``torch.distributed.nn`` (which carries gradients back to the rank that produced them), as
open_clip does with ``gather_with_grad``. With one process everything here is the identity.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(device_type: str) -> DistInfo:
    """Join the process group torchrun describes (NCCL on CUDA, gloo on CPU); a no-op alone."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    import torch.distributed as dist

    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    if device_type == "cuda":
        torch.cuda.set_device(local_rank)
    return DistInfo(rank=rank, world_size=world_size, local_rank=local_rank)


def gather_with_grad(tensor: torch.Tensor, info: DistInfo) -> torch.Tensor:
    """Concatenate ``tensor`` from all ranks along dim 0, keeping gradients."""
    if not info.enabled:
        return tensor
    import torch.distributed.nn.functional as dist_fn

    return torch.cat(dist_fn.all_gather(tensor), dim=0)


def all_reduce_flag(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank when it is True on any rank (e.g. "this step's loss was not finite")."""
    if not info.enabled:
        return flag
    import torch.distributed as dist

    value = torch.tensor([1.0 if flag else 0.0], device=device)
    dist.all_reduce(value, op=dist.ReduceOp.MAX)
    return bool(value.item() > 0)


def merge_dicts(local: dict, info: DistInfo) -> dict:
    """Every rank's ``local`` dict merged (lower ranks win on equal keys): e.g. the unreadable rows
    each rank drew, so the main rank's ``skipped.csv`` lists them all. Small, picklable dicts only."""
    if not info.enabled:
        return dict(local)
    import torch.distributed as dist

    parts: list = [None] * info.world_size
    dist.all_gather_object(parts, local)
    merged: dict = {}
    for part in reversed(parts):
        merged.update(part or {})
    return merged


def barrier(info: DistInfo) -> None:
    if info.enabled:
        import torch.distributed as dist

        dist.barrier()
