"""The scan finds a backdoor that is there, and reports none where there is none.

A tiny CLIP is trained from scratch (CLIP loss, a few hundred CPU steps) on a synthetic 4-class
world, once clean and once with 10% of the pairs carrying the BadNet patch and a "heart" caption,
as CleanCLIP's recipe poisons. The backdoored model must scan with high ASR toward "heart" and
``--target auto`` must name "heart"; the clean model must scan with low ASR. When the toy world's
shipped ``toy:badnet`` / ``toy:clean`` exist, the same checks run on them too.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cleanerclip_tool.attacks import get_trigger

CLASSES = ["circle", "square", "heart", "star"]
COLOURS = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (200, 200, 40)]
TARGET = "heart"
# A fixed-corner checkerboard (the BadNets paper's form) is learnt within a couple of hundred CPU
# steps; CleanCLIP's random-location noise patch needs a longer run (see the toy-world models).
BADNET = {"pattern": "checkerboard", "size_px": 6, "position": "bottom-right"}


def draw(label: int, rng: np.random.Generator, size: int = 32) -> Image.Image:
    """A class-coloured blob on a noisy grey background: easy to learn, so the backdoor is the question."""
    arr = rng.integers(90, 150, (size, size, 3)).astype(np.float32)
    r, c = rng.integers(4, size - 12, 2)
    arr[r : r + 10, c : c + 10] = np.array(COLOURS[label]) + rng.normal(0, 10, (10, 10, 3))
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def train_tiny_clip(poison_rate: float, steps: int = 200, seed: int = 0):
    import torch
    import torch.nn.functional as F
    from tiny import make_tiny_model, tiny_cfg

    from cleanerclip_tool.models.load import build_loaded_model

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    loaded = build_loaded_model(tiny_cfg(), make_tiny_model(seed), source=f"trained-{poison_rate}", kind="file")
    trigger = get_trigger("badnet", seed=seed, **BADNET)
    n = 1200
    labels = rng.integers(0, len(CLASSES), n)
    images, captions = [], []
    poisoned = set(rng.choice(n, int(n * poison_rate), replace=False).tolist()) if poison_rate else set()
    for i, label in enumerate(labels):
        img = draw(int(label), rng)
        if i in poisoned:
            images.append(trigger.apply(img, i))
            captions.append(f"a photo of a {TARGET}.")
        else:
            images.append(img)
            captions.append(f"a photo of a {CLASSES[label]}.")
    x = torch.stack([loaded.preprocess(img) for img in images])
    tokens = loaded.tokenizer(captions)
    model = loaded.model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    for _ in range(steps):
        idx = torch.from_numpy(rng.choice(n, 64, replace=False))
        img_f = F.normalize(model.encode_image(x[idx]), dim=-1)
        txt_f = F.normalize(model.encode_text(tokens[idx]), dim=-1)
        logits = model.logit_scale.exp() * img_f @ txt_f.T
        # captions repeat, so several pairs in a batch match; soft targets over equal captions
        same = (tokens[idx][:, None, :] == tokens[idx][None, :, :]).all(-1).float()
        target = same / same.sum(1, keepdim=True)
        loss = (
            torch.sum(-target * F.log_softmax(logits, 1), 1).mean()
            + torch.sum(-target * F.log_softmax(logits.T, 1), 1).mean()
        ) / 2
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    return loaded


def eval_folder(root: Path, per_class: int = 15) -> Path:
    rng = np.random.default_rng(123)
    for label, name in enumerate(CLASSES):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            draw(label, rng).save(root / name / f"{i}.png")
    (root / "templates.txt").write_text("a photo of a {}.\n")
    return root


@pytest.mark.slow
def test_scan_finds_the_backdoor_of_a_poisoned_model_and_none_in_a_clean_one(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.eval.scan import scan

    torch.set_num_threads(1)
    eval_set = load_eval_set(eval_folder(tmp_path / "ev"))
    badnet = get_trigger("badnet", seed=99, **BADNET)
    poisoned = scan(train_tiny_clip(0.1), eval_set, [badnet], target=None, topk=(1, 3)).results[0]
    clean = scan(train_tiny_clip(0.0), eval_set, [badnet], target=TARGET, topk=(1, 3)).results[0]
    assert poisoned.ba["1"] > 0.6 and clean.ba["1"] > 0.6  # both learnt the 4 classes (chance 0.25)
    assert poisoned.discovered_target == TARGET
    assert poisoned.asr["1"] > 0.8 and poisoned.discovered_share > 0.8
    assert clean.asr["1"] < 0.2
    assert poisoned.discovered_growth > 0.5 and clean.discovered_growth < 0.2


def _toy_model_or_skip(name: str):
    registry = pytest.importorskip("cleanerclip_tool.toyworld.registry")
    if name not in registry.list_toy_models():
        pytest.skip(f"toy:{name} is not shipped in this checkout")
    from cleanerclip_tool.models.load import load_model

    return load_model(f"toy:{name}")


@pytest.mark.slow
def test_shipped_toy_badnet_scans_with_high_asr_and_auto_finds_heart() -> None:
    loaded = _toy_model_or_skip("badnet")
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.eval.scan import scan
    from cleanerclip_tool.toyworld import default_world
    from cleanerclip_tool.toyworld.registry import TARGET_LABEL
    from cleanerclip_tool.toyworld.triggers import toy_trigger_defaults

    params, seed = toy_trigger_defaults(loaded.card, "badnet")
    trigger = get_trigger("badnet", seed=seed or 0, **params)
    result = scan(loaded, load_eval_set(default_world().test), [trigger], target=None).results[0]
    assert result.discovered_target == TARGET_LABEL
    assert result.asr["1"] >= 0.6


@pytest.mark.slow
def test_shipped_toy_clean_scans_with_low_asr() -> None:
    loaded = _toy_model_or_skip("clean")
    from cleanerclip_tool.eval.evalset import load_eval_set
    from cleanerclip_tool.eval.scan import scan
    from cleanerclip_tool.toyworld import default_world
    from cleanerclip_tool.toyworld.registry import TARGET_LABEL

    result = scan(
        loaded, load_eval_set(default_world().test), [get_trigger("badnet", size_px=5)], target=TARGET_LABEL
    ).results[0]
    assert result.asr["1"] < 0.3
