"""Every trigger changes the image as specified, keeps its size and is deterministic under a seed."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cleanerclip_tool.attacks import get_trigger, list_triggers
from cleanerclip_tool.attacks.badnet import BadNetTrigger
from cleanerclip_tool.errors import BadInputError


def smooth_image(size: int, seed: int = 0) -> Image.Image:
    """A gradient with mild noise: patches and warps show up clearly against it."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / max(size - 1, 1)
    base = np.stack([x * 200 + 20, y * 200 + 20, (x + y) * 100 + 20], axis=-1)
    base += rng.normal(0, 3, base.shape)
    return Image.fromarray(np.clip(base, 0, 255).astype(np.uint8), mode="RGB")


def changed_mask(a: Image.Image, b: Image.Image) -> np.ndarray:
    return np.any(np.asarray(a) != np.asarray(b), axis=-1)


def test_registry_lists_badnet_and_rejects_unknown() -> None:
    assert "badnet" in list_triggers()
    with pytest.raises(BadInputError, match="unknown attack"):
        get_trigger("nope")
    with pytest.raises(BadInputError, match="unknown parameter"):
        get_trigger("badnet", colour="red")


@pytest.mark.parametrize("size", [32, 224])
def test_badnet_noise_patch_is_a_square_of_the_configured_size(size: int) -> None:
    img = smooth_image(size)
    trig = get_trigger("badnet", seed=3)
    out = trig.apply(img, index=5)
    assert out.size == img.size and out.mode == "RGB"
    side = round(16 / 224 * size)
    rows, cols = np.nonzero(changed_mask(img, out))
    # Every changed pixel lies inside one side x side square (noise saturates almost every pixel).
    assert rows.max() - rows.min() < side and cols.max() - cols.min() < side
    assert len(rows) >= 0.8 * side * side
    # Deterministic for (seed, index); another index moves/redraws the patch.
    assert np.array_equal(np.asarray(out), np.asarray(trig.apply(img, index=5)))
    assert np.array_equal(np.asarray(out), np.asarray(get_trigger("badnet", seed=3).apply(img, index=5)))
    assert not np.array_equal(np.asarray(out), np.asarray(trig.apply(img, index=6)))


def test_badnet_checkerboard_fixed_corner_pixels() -> None:
    img = smooth_image(32)
    trig = BadNetTrigger(BadNetTrigger.Params(pattern="checkerboard", size_px=4, position="bottom-right"))
    out = np.asarray(trig.apply(img))
    patch = out[28:32, 28:32, 0]
    expected = np.array([[0, 255, 0, 255], [255, 0, 255, 0]] * 2, dtype=np.uint8)
    assert np.array_equal(patch, expected)
    assert np.array_equal(out[:28], np.asarray(img)[:28])
    assert np.array_equal(out[:, :28], np.asarray(img)[:, :28])
    assert trig.describe()["params"]["position"] == "bottom-right"
    assert trig.describe()["attack"] == "badnet"


ALL_BUILTIN = ["badnet", "blended", "sig", "wanet", "ssba", "badclip"]


@pytest.mark.parametrize("name", ALL_BUILTIN)
@pytest.mark.parametrize("size", [32, 224])
def test_every_trigger_changes_the_image_keeps_size_and_is_deterministic(name: str, size: int) -> None:
    img = smooth_image(size, seed=1)
    out = get_trigger(name, seed=7).apply(img, index=3)
    again = get_trigger(name, seed=7).apply(img, index=3)
    assert out.size == img.size and out.mode == "RGB"
    assert changed_mask(img, out).any()
    assert np.array_equal(np.asarray(out), np.asarray(again))
    # non-RGB input is converted, not rejected
    assert get_trigger(name, seed=7).apply(img.convert("L"), index=3).mode == "RGB"


def test_list_triggers_has_all_seven() -> None:
    assert list_triggers() == [*ALL_BUILTIN, "custom"]


def test_blended_is_the_alpha_mix_with_a_pattern_fixed_per_seed() -> None:
    img = smooth_image(32)
    trig = get_trigger("blended", seed=2)
    pattern = trig.pattern(32, 32)
    expected = np.clip(np.rint(0.8 * np.asarray(img, dtype=np.float32) + 0.2 * pattern), 0, 255)
    assert np.array_equal(np.asarray(trig.apply(img, 0)), expected.astype(np.uint8))
    # the same pattern for every image of the attack; another seed, another pattern
    assert np.array_equal(trig.pattern(32, 32, index=5), pattern)
    assert not np.array_equal(get_trigger("blended", seed=3).pattern(32, 32), pattern)
    assert not np.array_equal(
        get_trigger("blended", per_image=True).pattern(32, 32, 1),
        get_trigger("blended", per_image=True).pattern(32, 32, 2),
    )


def test_blended_with_an_image_pattern(tmp_path) -> None:
    white = tmp_path / "white.png"
    Image.new("RGB", (10, 10), (255, 255, 255)).save(white)
    black = Image.new("RGB", (32, 32))
    out = np.asarray(get_trigger("blended", image=str(white), alpha=0.5).apply(black))
    assert (out == 128).all()  # 0.5 * 255 rounds half to even -> 128


def test_sig_is_a_horizontal_sinusoid_with_the_configured_periods() -> None:
    gray = Image.new("RGB", (224, 224), (128, 128, 128))
    out = np.asarray(get_trigger("sig", mode="add").apply(gray), dtype=np.float64)
    cols = np.arange(224)
    expected = np.rint(128 + 60 * np.sin(2 * np.pi * cols * 6 / 224))
    assert np.array_equal(out[0, :, 0], expected)
    assert (out == out[:1]).all()  # constant down each column: varies along the width only
    # CleanCLIP's blend: 0.8 * image + 0.2 * signal
    blended = np.asarray(get_trigger("sig").apply(gray), dtype=np.float64)
    assert np.array_equal(blended[5, :, 2], np.rint(0.8 * 128 + 0.2 * 60 * np.sin(2 * np.pi * cols * 6 / 224)))


def test_wanet_matches_torch_grid_sample_and_is_fixed_per_seed() -> None:
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    img = smooth_image(32, seed=4)
    trig = get_trigger("wanet", seed=5, s=4.0)  # a strong warp so the comparison is not trivial
    rows, cols = trig.sampling_grid(32, 32)
    grid = torch.from_numpy(np.stack([cols / 31 * 2 - 1, rows / 31 * 2 - 1], axis=-1))[None]
    tensor = torch.from_numpy(np.asarray(img, dtype=np.float64)).permute(2, 0, 1)[None]
    reference = F.grid_sample(tensor, grid, align_corners=True, mode="bilinear")[0].permute(1, 2, 0).numpy()
    ours = trig.apply_array(np.asarray(img), 0)
    assert np.allclose(ours, reference, atol=1e-6)
    assert np.abs(ours - np.asarray(img)).mean() > 1.0
    # the field does not depend on the image index, only on the seed
    assert np.array_equal(np.asarray(trig.apply(img, 0)), np.asarray(trig.apply(img, 99)))
    assert not np.array_equal(get_trigger("wanet", seed=6).control_grid(), get_trigger("wanet", seed=5).control_grid())


def test_ssba_residual_is_bounded_and_sample_specific() -> None:
    trig = get_trigger("ssba", seed=1)
    a, b = smooth_image(32, seed=1), smooth_image(32, seed=2).transpose(Image.Transpose.ROTATE_90)
    ra = np.asarray(trig.apply(a), dtype=int) - np.asarray(a, dtype=int)
    rb = np.asarray(trig.apply(b), dtype=int) - np.asarray(b, dtype=int)
    bound = np.ceil(8 / 255 * 255) + 1  # epsilon plus rounding
    assert np.abs(ra).max() <= bound and np.abs(rb).max() <= bound
    assert np.abs(ra).mean() > 1.0
    assert not np.array_equal(ra, rb)  # a different residual for a different image
    assert len(trig.describe()["code"]) == 32


def test_badclip_pastes_the_patch_in_the_middle(tmp_path) -> None:
    patch = np.zeros((4, 4, 3), dtype=np.uint8)
    patch[..., 0] = 255
    path = tmp_path / "patch.png"
    Image.fromarray(patch).save(path)
    img = smooth_image(224)
    out = np.asarray(get_trigger("badclip", patch=str(path)).apply(img))
    assert (out[104:120, 104:120] == [255, 0, 0]).all()  # BadCLIP's rows/cols 104-119
    mask = changed_mask(img, Image.fromarray(out))
    mask[104:120, 104:120] = False
    assert not mask.any()
    assert get_trigger("badclip", patch=str(path)).describe()["artefact_sha256"] is not None
    # without a patch: the seeded N(0.5, 0.25) starting point, pasted the same way
    start = np.asarray(get_trigger("badclip", seed=1).apply(Image.new("RGB", (32, 32))))
    assert start[15:17, 15:17].any() and not start[:15].any()


def test_custom_paste_and_blend(tmp_path) -> None:
    path = tmp_path / "t.png"
    Image.new("RGB", (8, 8), (0, 255, 0)).save(path)
    img = Image.new("RGB", (100, 100), (10, 10, 10))
    out = np.asarray(get_trigger("custom", image=str(path), size_px=10, position="top-left").apply(img))
    assert (out[:10, :10] == [0, 255, 0]).all() and (out[10:, :] == 10).all() and (out[:, 10:] == 10).all()
    blended = np.asarray(get_trigger("custom", image=str(path), mode="blend", alpha=0.5).apply(img))
    assert (blended == [5, 132, 5]).all()  # 0.5*10 + 0.5*0 = 5; 0.5*10 + 0.5*255 = 132.5 -> 132
    with pytest.raises(BadInputError, match="trigger image"):
        get_trigger("custom")


def test_ssba_encoder_roundtrip_and_unsafe_formats(tmp_path) -> None:
    from cleanerclip_tool.attacks.stegastamp import StegaConfig, StegaDecoder, default_encoder, save_stegastamp

    config = StegaConfig(n_bits=8)
    path = save_stegastamp(default_encoder(config, 3), StegaDecoder(config), tmp_path / "enc.safetensors")
    loaded = get_trigger("ssba", encoder=str(path), seed=3)
    assert loaded.encoder.config == config
    default = get_trigger("ssba", n_bits=8, seed=3)
    img = smooth_image(32)
    assert np.array_equal(np.asarray(loaded.apply(img)), np.asarray(default.apply(img)))
    pickle_path = tmp_path / "enc.pt"
    pickle_path.write_bytes(b"not really")
    with pytest.raises(BadInputError, match="safetensors"):
        get_trigger("ssba", encoder=str(pickle_path))


@pytest.mark.slow
def test_train_ssba_decoder_recovers_the_bits(tmp_path) -> None:
    torch = pytest.importorskip("torch")
    from cleanerclip_tool.attacks.stegastamp import StegaConfig, train_stegastamp

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    images = []
    for _ in range(48):
        a = np.zeros((32, 32, 3)) + rng.integers(0, 255, 3)
        r, c = rng.integers(0, 24, 2)
        a[r : r + 8, c : c + 8] = rng.integers(0, 255, 3)
        images.append(Image.fromarray(a.astype(np.uint8)))
    result = train_stegastamp(images, tmp_path / "enc.safetensors", config=StegaConfig(n_bits=16), steps=150, seed=0)
    assert result.bit_accuracy > 0.9
    assert result.mean_abs_residual <= 8
    trig = get_trigger("ssba", encoder=str(result.out))
    assert trig.encoder.config.n_bits == 16
