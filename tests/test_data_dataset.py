"""The training data set's seeded augmentation: same views as a full torch re-seed, RNG restored."""

from __future__ import annotations

import numpy as np
import torch
from PIL import Image
from torchvision.transforms import AutoAugment, AutoAugmentPolicy

from cleanerclip_tool.data.dataset import item_seed, seeded_cpu_rng


def _image() -> Image.Image:
    return Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8))


def test_seeded_cpu_rng_draws_what_a_full_reseed_draws() -> None:
    augment, image = AutoAugment(AutoAugmentPolicy.IMAGENET), _image()
    for row in range(20):
        seed = item_seed(3, 1, row)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            reference = np.asarray(augment(image))
        with seeded_cpu_rng(seed):
            fast = np.asarray(augment(image))
        assert np.array_equal(reference, fast), row


def test_seeded_cpu_rng_restores_the_global_stream() -> None:
    torch.manual_seed(123)
    expected = torch.rand(4)
    torch.manual_seed(123)
    with seeded_cpu_rng(7):
        inside = torch.rand(4)
    assert torch.equal(torch.rand(4), expected)
    with seeded_cpu_rng(7):
        assert torch.equal(torch.rand(4), inside)
