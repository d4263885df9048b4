"""The scan's fast path gives exactly what the per-image PIL path gives, only sooner.

Three promises: ``split_preprocess`` reproduces open_clip's standard eval transform (and declines
anything else, so a user's preprocess is still honoured); ``Trigger.apply_uint8`` equals ``apply``
pixel for pixel for every built-in trigger; and a whole scan with all six attacks yields the same
top-k indices through the fast path as through the reference path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from test_scan import make_eval_folder

from cleanerclip_tool.attacks import PAPER_ATTACKS, get_trigger
from cleanerclip_tool.eval.fastpath import split_preprocess
from cleanerclip_tool.toyworld.triggers import toy_params


def open_clip_eval_transform(size: int, **cfg):
    from open_clip.transform import PreprocessCfg, image_transform_v2

    return image_transform_v2(PreprocessCfg(size=size, **cfg), is_train=False)


def noise_image(height: int, width: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), mode="RGB")


def fast_tensor(preprocess, image: Image.Image) -> torch.Tensor:
    fast = split_preprocess(preprocess)
    assert fast is not None
    return fast.batch(torch.from_numpy(np.array(fast.to_uint8(np.asarray(image))))[None])[0]


@pytest.mark.parametrize(
    ("size", "resize_mode", "interpolation"),
    [(32, "shortest", "bicubic"), (24, "squash", "bilinear"), (224, "shortest", "bicubic")],
)
def test_fast_preprocess_equals_open_clip_transform(size: int, resize_mode: str, interpolation: str) -> None:
    preprocess = open_clip_eval_transform(size, resize_mode=resize_mode, interpolation=interpolation)
    fast = split_preprocess(preprocess)
    assert fast is not None and fast.size == size and fast.square_is_identity
    # S x S (the batched-only path), larger / smaller / non-square (the transform's own PIL steps)
    for i, (h, w) in enumerate([(size, size), (size + 9, size + 21), (size // 2 + 3, size // 2 + 3), (size * 2, size)]):
        image = noise_image(h, w, seed=i)
        expected = preprocess(image)
        got = fast_tensor(preprocess, image)
        assert got.shape == expected.shape and got.dtype == expected.dtype and got.is_contiguous()
        torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)
        if (h, w) == (size, size):
            assert torch.equal(got, expected)  # the same float32 operations: bit-identical
    # batched over several views at once, as the scan's collate does
    views = np.stack([fast.to_uint8(np.asarray(noise_image(size, size, seed=s))) for s in range(3)])[None]
    batched = fast.batch(torch.from_numpy(views))
    assert batched.shape == (1, 3, 3, size, size)
    for s in range(3):
        assert torch.equal(batched[0, s], preprocess(noise_image(size, size, seed=s)))


def test_split_preprocess_declines_what_it_does_not_know() -> None:
    from open_clip.transform import ResizeKeepRatio
    from torchvision import transforms as T

    standard = open_clip_eval_transform(32)
    *geometric, to_tensor, normalize = standard.transforms

    class MyResize(T.Resize):  # a subclass may do anything: never skipped
        pass

    declined = [
        lambda image: torch.zeros(3, 32, 32),  # a user's own function
        T.Compose([*geometric, T.RandomHorizontalFlip(), to_tensor, normalize]),  # an extra step
        T.Compose([MyResize(32), *geometric[1:], to_tensor, normalize]),
        T.Compose([T.Resize(32), to_tensor, normalize]),  # shortest side only: output size not fixed
        T.Compose([*geometric, to_tensor]),  # no Normalize
        T.Compose([T.Resize(32, max_size=40), T.CenterCrop(32), to_tensor, normalize]),
        T.Compose([ResizeKeepRatio(32), T.CenterCrop(32), to_tensor, normalize]),
    ]
    for preprocess in declined:
        assert split_preprocess(preprocess) is None, preprocess
    # a resize to another side before the crop is recognised, but S x S images then take the PIL steps
    crop_pct = T.Compose([T.Resize(36), T.CenterCrop(32), to_tensor, normalize])
    fast = split_preprocess(crop_pct)
    assert fast is not None and not fast.square_is_identity
    image = noise_image(32, 32, seed=4)
    torch.testing.assert_close(fast_tensor(crop_pct, image), crop_pct(image), atol=1e-6, rtol=0)


def all_triggers(tmp_path: Path) -> list:
    """Every built-in trigger, with per-image randomness, both modes and artefacts where they exist."""
    user = tmp_path / "user.png"
    noise_image(11, 7, seed=9).save(user)
    triggers = [get_trigger(name, seed=seed, **toy_params(name)) for name in PAPER_ATTACKS for seed in (0, 7)]
    triggers += [get_trigger(name) for name in PAPER_ATTACKS]  # the papers' defaults, no shipped artefact
    triggers += [
        get_trigger("badnet", pattern="checkerboard", position="top-left", size_px=4, seed=2),
        get_trigger("blended", per_image=True, seed=3),
        get_trigger("blended", image=str(user)),
        get_trigger("sig", mode="add"),
        get_trigger("wanet", k=224, s=1.0),
        get_trigger("custom", image=str(user)),
        get_trigger("custom", image=str(user), mode="blend", alpha=0.3),
        get_trigger("custom", image=str(user), position="random", seed=5),
    ]
    return triggers


def test_apply_uint8_equals_apply_for_every_builtin_trigger(tmp_path: Path) -> None:
    triggers = all_triggers(tmp_path)
    assert {t.name for t in triggers} >= {*PAPER_ATTACKS, "custom"}
    for shape in ((32, 32), (29, 40)):
        image = noise_image(*shape, seed=shape[1])
        array = np.asarray(image, dtype=np.uint8)
        before = array.copy()
        for trigger in triggers:
            for index in (0, 1, 17):
                expected = np.asarray(trigger.apply(image, index))
                got = trigger.apply_uint8(array, index)
                assert got.dtype == np.uint8 and np.array_equal(got, expected), (trigger, index, shape)
        assert np.array_equal(array, before)  # the decoded image is shared by every view: never modified
    with pytest.raises(ValueError, match="uint8 HxWx3"):
        triggers[0].apply_uint8(array.astype(np.float32))


def test_wanet_cached_plan_is_bit_identical_to_bilinear_sample() -> None:
    from cleanerclip_tool.attacks.wanet import bilinear_sample

    for params in (toy_params("wanet"), {}, {"k": 224, "s": 1.0, "seed": 3}, {"grid_rescale": 0.9}):
        trigger = get_trigger("wanet", **params)
        for shape in ((32, 32), (29, 40), (224, 224)):
            array = np.asarray(noise_image(*shape, seed=shape[1]))
            expected = bilinear_sample(array.astype(np.float64), *trigger.sampling_grid(*shape))
            got = trigger.apply_array(array, 0)
            assert got.dtype == expected.dtype and np.array_equal(got, expected), (params, shape)


def toy_or_tiny_model():
    """The shipped toy:clean model when this checkout has it (the real case), else the tiny test model."""
    from cleanerclip_tool.models.load import build_loaded_model, load_model

    try:
        from cleanerclip_tool.toyworld.registry import list_toy_models

        if "clean" in list_toy_models():
            return load_model("toy:clean")
    except ImportError:
        pass
    from tiny import make_tiny_model, tiny_cfg

    return build_loaded_model(tiny_cfg(), make_tiny_model(0), source="tiny", kind="file")


@pytest.fixture(scope="module")
def toy_folder(tmp_path_factory) -> Path:
    """A small eval folder of toy-world test images, plus noise images, one of them not 32 x 32."""
    from cleanerclip_tool.toyworld.world import sample_pairs

    root = make_eval_folder(tmp_path_factory.mktemp("fast") / "ev", per_class=2)
    for i, (image, _caption) in enumerate(sample_pairs(12, split="test")):
        image.convert("RGB").save(root / f"c{i % 4}" / f"toy{i}.png")
    noise_image(40, 36, seed=1).save(root / "c1" / "odd_size.png")
    return root


def test_fast_scan_gives_the_reference_top_k_with_all_six_attacks(toy_folder: Path) -> None:
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.eval.scan import ScanViews, predict_views, select_samples
    from cleanerclip_tool.eval.zeroshot import build_classifier

    loaded = toy_or_tiny_model()
    eval_set = load_eval_set(toy_folder)
    triggers = [None, *(get_trigger(a, **toy_params(a)) for a in PAPER_ATTACKS)]
    samples = select_samples(eval_set, None, 0)
    with torch.inference_mode():
        classifier = build_classifier(
            loaded.model, loaded.tokenizer, eval_set.classnames, eval_set.templates, device="cpu"
        ).float()

    def passed(fast: bool, workers: int):
        dataset = ScanViews(samples, loaded.preprocess, triggers, fast=fast)
        assert (dataset.batch_preprocess is not None) == fast
        return predict_views(loaded.model, classifier, dataset, maxk=4, batch_size=21, device="cpu", workers=workers)

    reference = passed(False, 0)
    for workers in (0, 1):
        fast = passed(True, workers)
        assert fast.topk.shape == reference.topk.shape == (len(samples), 7, 4)
        assert np.array_equal(fast.topk, reference.topk) and np.array_equal(fast.labels, reference.labels)
        assert fast.view_seconds.shape == (7,) and (fast.view_seconds > 0).all()


def test_a_custom_preprocess_is_still_called_per_view(tmp_path: Path) -> None:
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.eval.scan import ScanViews, select_samples

    eval_set = load_eval_set(make_eval_folder(tmp_path / "ev", per_class=1))
    seen: list[tuple[int, int]] = []

    def preprocess(image: Image.Image) -> torch.Tensor:
        seen.append(image.size)
        return torch.full((3, 8, 8), float(np.asarray(image).mean()))

    dataset = ScanViews(select_samples(eval_set, None, 0), preprocess, [None, get_trigger("sig")])
    assert dataset.batch_preprocess is None
    images, labels, seconds = dataset.collate([dataset[0], dataset[1]])
    assert images.shape == (2, 2, 3, 8, 8) and labels.tolist() == [0, 1] and seconds.shape == (2, 2)
    assert seen == [(32, 32)] * 4
