"""The training data set over a caption table: images, their views, tokens — in the loader workers.

Sampling happens through ``EpochSampler``, which yields ``(row, epoch)`` pairs: each item's random
augmentation is seeded from ``(seed, epoch, row)``, so the data a step sees depends only on the seed
and the step, not on worker count or on whether the run was resumed mid-epoch.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch.utils.data import Dataset, Sampler

from cleanerclip_tool.config import default_of
from cleanerclip_tool.data.captions import CaptionRow
from cleanerclip_tool.data.images import open_rgb
from cleanerclip_tool.errors import DataError

DEFAULT_MAX_BAD_IN_A_ROW: int = default_of("max_bad_rows_in_a_row")  # read from its home, PurifyConfig


def item_seed(seed: int, epoch: int, row: int) -> int:
    """A 63-bit seed unique to (run seed, epoch, row)."""
    return (seed * 1_000_003 + epoch * 7_919 + row * 104_729) % (2**63 - 1)


@contextlib.contextmanager
def seeded_cpu_rng(seed: int) -> Iterator[None]:
    """Seed torch's global CPU generator for a block and restore its state afterwards.

    What ``torch.random.fork_rng(devices=[])`` + ``torch.manual_seed`` do for the CPU generator, at
    ~5 µs instead of ~300: ``torch.manual_seed`` also queues a lazy CUDA re-seed on CUDA builds, and
    queueing it captures a Python stack trace, once per training image. Transforms that draw from the
    global generator (torchvision's AutoAugment) see the same numbers either way.
    """
    state = torch.random.get_rng_state()
    torch.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(state)


class PurifyDataset(Dataset):
    """Items are dicts: ``image``, ``tokens``, ``row``, ``bad_row``, ``bad_walk`` and, for the in-modal
    loss, ``aug_image`` and ``aug_tokens`` (``aug_image`` alone with ``augment_images``).

    A row whose image cannot be decoded is replaced by the next decodable row (deterministically)
    and reported through ``bad_row`` so the run keeps its step count on every rank (no rank may
    yield fewer batches than the others, or the collectives hang) and can list the row in
    ``skipped.csv``. ``bad_walk`` counts the unreadable rows passed over. When ``max_bad_in_a_row``
    rows in a row are unreadable the item is a blank placeholder with ``bad_walk`` at that limit:
    raising here would surface, from a loader worker, as a traceback-wrapped error on one rank
    only, whereas the flag lets the training loop stop every rank together with a clear message.
    """

    def __init__(
        self,
        rows: Sequence[CaptionRow],
        *,
        preprocess: Callable[[Any], torch.Tensor],
        tokenizer: Callable[[list[str]], torch.Tensor],
        aug_captions: Sequence[str] | None = None,
        augment_images: bool = False,
        seed: int = 0,
        max_bad_in_a_row: int = DEFAULT_MAX_BAD_IN_A_ROW,
    ) -> None:
        self.rows = list(rows)
        self.max_bad_in_a_row = max(1, max_bad_in_a_row)
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        self.aug_captions = list(aug_captions) if aug_captions is not None else None
        # An AutoAugment view per image: with the augmented captions (CleanCLIP's in-modal term), or
        # alone (PAR trains on the views).
        self.augment_images = augment_images or aug_captions is not None
        self.seed = seed
        self._autoaugment: Any = None

    def __len__(self) -> int:
        return len(self.rows)

    def _augment(self, image: Any) -> Any:
        # CleanCLIP's image view: torchvision AutoAugment with the ImageNet policy on the raw image.
        if self._autoaugment is None:
            from torchvision.transforms import AutoAugment, AutoAugmentPolicy

            self._autoaugment = AutoAugment(AutoAugmentPolicy.IMAGENET)
        return self._autoaugment(image)

    def __getitem__(self, key: tuple[int, int]) -> dict[str, Any]:
        row, epoch = key
        index, walked, image = row, 0, None
        while walked < self.max_bad_in_a_row:
            try:
                image = open_rgb(self.rows[index].image)
                break
            except DataError:
                walked += 1
                index = (index + 1) % len(self.rows)
        if image is None:  # every row tried was unreadable: a placeholder the loop will not train on
            from PIL import Image

            image, index = Image.new("RGB", (32, 32)), row
        item: dict[str, Any] = {
            "image": self.preprocess(image),
            "tokens": self.tokenizer([self.rows[index].caption])[0],
            "row": index,
            "bad_row": row if walked else -1,
            "bad_walk": walked,
        }
        if self.augment_images:
            with seeded_cpu_rng(item_seed(self.seed, epoch, index)):
                item["aug_image"] = self.preprocess(self._augment(image))
        if self.aug_captions is not None:
            item["aug_tokens"] = self.tokenizer([self.aug_captions[index]])[0]
        return item


class EpochSampler(Sampler[tuple[int, int]]):
    """A seeded permutation per epoch, split across ranks, that can start part-way (for resume)."""

    def __init__(self, n: int, *, batch_size: int, seed: int, rank: int = 0, world_size: int = 1) -> None:
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.start_batch = 0

    @property
    def batches_per_epoch(self) -> int:
        return (self.n // self.world_size) // self.batch_size

    def set_epoch(self, epoch: int, start_batch: int = 0) -> None:
        self.epoch, self.start_batch = epoch, start_batch

    def epoch_rows(self, epoch: int) -> list[int]:
        g = torch.Generator().manual_seed(self.seed * 9_973 + epoch)
        perm = torch.randperm(self.n, generator=g).tolist()
        per_rank = self.n // self.world_size
        return perm[self.rank :: self.world_size][:per_rank]

    def __iter__(self) -> Iterator[tuple[int, int]]:
        rows = self.epoch_rows(self.epoch)[: self.batches_per_epoch * self.batch_size]
        for row in rows[self.start_batch * self.batch_size :]:
            yield row, self.epoch

    def __len__(self) -> int:
        return max(0, self.batches_per_epoch - self.start_batch) * self.batch_size
