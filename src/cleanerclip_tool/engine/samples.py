"""What the loss terms need besides image–caption pairs: augmented captions and the epoch's S.

CleanCLIP's in-modal term pairs each caption with one EDA-augmented version, computed once when
the data set is built [CleanCLIP code]. CleanerCLIP's CFA term draws K samples S at random from
the whole set anew each epoch [paper §3.3] and needs a positive and a negative sub-caption for each.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import torch

from cleanerclip_tool.config import PurifyConfig
from cleanerclip_tool.data.captions import CaptionRow
from cleanerclip_tool.engine.step import SubcaptionTokens
from cleanerclip_tool.events import EventCallback, Info


def augmented_captions(rows: Sequence[CaptionRow], config: PurifyConfig) -> list[str]:
    """One EDA operation per caption, seeded per row; a caption EDA cannot change stays as it is."""
    from cleanerclip_tool.augment.eda import eda_augment

    return [
        eda_augment(r.caption, random.Random(config.seed * 31 + i), wordbanks=config.wordbanks) or r.caption
        for i, r in enumerate(rows)
    ]


def draw_cfa_samples(n: int, k: int, seed: int, epoch: int) -> list[int]:
    """K rows drawn at random from the whole set, anew each epoch [paper §3.3]; the same on every rank."""
    return sorted(random.Random(seed * 7_907 + epoch).sample(range(n), k))


def cfa_batch_rows(
    s_rows: Sequence[int], *, seed: int, epoch: int, index: int, size: int, rank: int = 0, world_size: int = 1
) -> list[int]:
    """The rows of the ``index``-th batch made of S alone, for the alternating schedule's CFA steps
    (docs/cfa-study.md, reading C): a seeded shuffle of this epoch's S, cycled through, each process
    taking its own slice. A batch holds min(``size``, |S|) rows, so no row appears twice in one
    process's batch. Depends only on (seed, epoch, index, rank), so a resumed run draws the same."""
    order = sorted(s_rows)
    if not order:
        return []
    random.Random(seed * 7_919 + epoch * 31 + 1).shuffle(order)
    size = min(size, len(order))
    start = (index * world_size + rank) * size
    return [order[(start + j) % len(order)] for j in range(size)]


def subcaption_tokens(
    subcaptioner: Any,
    rows: Sequence[CaptionRow],
    config: PurifyConfig,
    epoch: int,
    tokenizer: Callable[[list[str]], torch.Tensor],
    emit: EventCallback,
) -> SubcaptionTokens:
    """This epoch's S: row → (positive tokens, negative tokens). Sub-captions come from the
    SubCaptioner's cache after the first epoch; rows without a usable negative are left out of S."""
    chosen = draw_cfa_samples(len(rows), config.samples, config.seed, epoch)
    records = subcaptioner.batch([rows[i].caption for i in chosen], seed=config.seed + epoch)
    usable = [(i, r) for i, r in zip(chosen, records, strict=True) if r.positive and r.negative]
    if len(usable) < len(chosen):
        emit(Info(f"epoch {epoch + 1}: {len(chosen) - len(usable)} of {len(chosen)} CFA samples had no negative"))
    if not usable:
        return {}
    positive = tokenizer([r.positive for _, r in usable])
    negative = tokenizer([r.negative for _, r in usable])
    return {i: (positive[j], negative[j]) for j, (i, _) in enumerate(usable)}
