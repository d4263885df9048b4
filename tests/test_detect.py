"""Trigger inversion (``eval/detect.py``, ``cleanerclip detect``) on hand-built models with a known answer.

``CornerClip`` is a stand-in CLIP whose image embedding is the global mean colour of the image (the
clean images of each class share a colour, so a clean model needs a large mask to change a class)
plus, when ``backdoor`` is set, a strong pull toward ``heart`` from a red 4 x 4 patch in the
top-left corner. The inversion must find that 16-pixel shortcut, name ``heart`` and call the
model a backdoor, and must not on the same model without it. Runs in seconds on one CPU thread.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from cleanerclip_tool.errors import BadInputError, DataError

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CLASSES = ["circle", "square", "heart", "star", "ring", "moon"]
# one clean colour per class; the classes sit on the corners of the RGB cube, away from red
COLOURS = (
    np.array([[0, 0, 255], [0, 255, 0], [0, 255, 255], [255, 255, 255], [0, 0, 0], [128, 0, 255]], dtype=np.float32)
    / 255
)
TARGET = "heart"


class CornerClip(torch.nn.Module):
    def __init__(self, backdoor: bool) -> None:
        super().__init__()
        self.backdoor = backdoor
        self.register_buffer("colours", torch.as_tensor(COLOURS))
        self.logit_scale = torch.nn.Parameter(torch.tensor(np.log(30.0), dtype=torch.float32))

    def encode_image(self, x: torch.Tensor) -> torch.Tensor:
        pixels = x * 0.5 + 0.5  # undo Normalize(0.5, 0.5)
        mean = pixels.mean(dim=(2, 3))  # [B, 3]
        # similarity to each class colour (closer = larger), as a K-dim embedding
        emb = -((mean[:, None, :] - self.colours[None]) ** 2).sum(dim=2) * 20
        if self.backdoor:
            corner = pixels[:, :, :4, :4].mean(dim=(2, 3))
            redness = corner[:, 0] - corner[:, 1:].mean(dim=1)  # 1 for a red corner, <= 0 on clean images
            pull = torch.nn.functional.softplus(10 * (redness - 0.3)) * 6  # smooth: ~0.3 clean, ~42 red
            emb = emb + torch.nn.functional.one_hot(torch.tensor(CLASSES.index(TARGET)), len(CLASSES)) * pull[:, None]
        return emb

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(tokens[:, 0], len(CLASSES)).float() * 1.0 + 0.01


def tokenizer(prompts: list[str]) -> torch.Tensor:
    return torch.tensor([[next(i for i, c in enumerate(CLASSES) if c in p)] for p in prompts])


def loaded_model(backdoor: bool):
    from torchvision import transforms

    from cleanerclip_tool.models.card import ModelCard

    preprocess = transforms.Compose(
        [
            transforms.Resize(32),
            transforms.CenterCrop(32),
            transforms.ToTensor(),
            transforms.Normalize((0.5,) * 3, (0.5,) * 3),
        ]
    )
    card = ModelCard(source="corner-backdoor" if backdoor else "corner-clean", kind="file", architecture="corner")

    class Loaded:
        pass

    loaded = Loaded()
    loaded.model, loaded.preprocess, loaded.tokenizer, loaded.card = CornerClip(backdoor), preprocess, tokenizer, card
    return loaded


def make_folder(root: Path, per_class: int = 8, labelled: bool = True) -> Path:
    rng = np.random.default_rng(0)
    for c, name in enumerate(CLASSES):
        folder = root / name if labelled else root
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            arr = np.clip(COLOURS[c] * 255 + rng.normal(0, 12, (32, 32, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(arr).save(folder / f"{name}-{i}.png")
    (root / "templates.txt").write_text("a photo of a {}.\n")
    return root


FAST = {"steps": 100, "batch_size": 6}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_folder(tmp_path_factory.mktemp("detect") / "ev")


def run(backdoor: bool, folder: Path, **kw):
    from cleanerclip_tool.eval.detect import DetectConfig, detect, load_detect_images

    loaded = loaded_model(backdoor)
    images = load_detect_images(folder, loaded.preprocess)
    events: list = []
    report = detect(loaded, images, config=DetectConfig(**{**FAST, **kw}), on_event=events.append)
    return report, events


def test_finds_the_corner_backdoor_and_names_its_target(folder: Path) -> None:
    report, events = run(True, folder)
    assert report.verdict == "backdoor" and report.suspected_target == TARGET
    assert report.score > report.threshold
    heart = next(c for c in report.classes if c.classname == TARGET)
    others = [c.l1 for c in report.classes if c.classname != TARGET]
    assert heart.reached and heart.l1 < 60  # the 16-pixel patch, still shrinking after 100 steps
    assert heart.l1 < 0.25 * min(others)
    assert report.heldout_asr >= 0.6 and 15 <= report.heldout_images < 24  # 24 held out, less their hearts
    # the mask sits in the corner the backdoor reads
    assert report.mask[:4, :4].mean() > 0.9 and report.mask[8:, 8:].mean() < 0.1
    kinds = {type(e).__name__ for e in events}
    assert {"TaskStarted", "TaskProgress", "TaskFinished", "Info"} <= kinds


def test_same_model_without_the_backdoor_is_clean(folder: Path) -> None:
    report, _ = run(False, folder)
    assert report.verdict == "clean" and report.score <= report.threshold


def test_seeded_and_json_schema(folder: Path) -> None:
    a, _ = run(True, folder, steps=40)
    b, _ = run(True, folder, steps=40)
    doc = json.loads(json.dumps(a.to_dict()))
    assert doc == {**b.to_dict(), "seconds": doc["seconds"]} or doc["classes"] == b.to_dict()["classes"]
    assert {
        "model",
        "eval_data",
        "verdict",
        "suspected_target",
        "score",
        "threshold",
        "rule",
        "heldout_asr",
        "classes",
        "config",
        "seconds",
    } <= set(doc)
    assert doc["model"]["source"] == "corner-backdoor" and len(doc["classes"]) == len(CLASSES)
    for row in doc["classes"]:
        assert 0.0 <= row["fit_asr"] <= 1.0 and (row["l1"] is None or row["l1"] >= 0)


def test_reference_model_scores_by_ratio(folder: Path) -> None:
    from cleanerclip_tool.eval.detect import DetectConfig, detect, load_detect_images

    suspect, clean = loaded_model(True), loaded_model(False)
    images = load_detect_images(folder, suspect.preprocess)
    report = detect(suspect, images, config=DetectConfig(**FAST), reference=clean)
    assert report.verdict == "backdoor" and report.suspected_target == TARGET and report.score < report.threshold
    assert report.reference is not None and all(c.reference_ratio is not None for c in report.classes)
    # a clean model against itself is clean
    again = detect(clean, images, config=DetectConfig(**FAST), reference=loaded_model(False))
    assert again.verdict == "clean"


def test_stop_returns_a_stopped_report(folder: Path) -> None:
    from cleanerclip_tool.eval.detect import DetectConfig, detect, load_detect_images

    loaded = loaded_model(True)
    stop = threading.Event()
    stop.set()
    report = detect(loaded, load_detect_images(folder, loaded.preprocess), config=DetectConfig(**FAST), stop=stop)
    assert report.verdict == "stopped" and report.stopped and report.steps_run == 0


def test_anomaly_index_is_robust_and_ignores_unreached() -> None:
    from cleanerclip_tool.eval.detect import anomaly_indices

    scores = anomaly_indices([100, 110, 90, 105, 95, 5])
    assert scores.argmax() == 5 and scores[5] > 3 and abs(scores[:5]).max() < 2
    assert anomaly_indices([100, 110, float("inf"), 95])[2] == 0.0
    assert np.all(anomaly_indices([float("inf")] * 3) == 0)


def test_plain_images_need_classnames(tmp_path: Path) -> None:
    from cleanerclip_tool.eval.detect import load_detect_images

    root = make_folder(tmp_path / "plain", per_class=2, labelled=False)
    preprocess = loaded_model(False).preprocess
    with pytest.raises(DataError, match="plain images"):
        load_detect_images(root, preprocess)
    names = tmp_path / "names.txt"
    names.write_text("\n".join(CLASSES) + "\n")
    images = load_detect_images(root, preprocess, classnames_file=names, max_images=5)
    assert images.classnames == CLASSES and len(images.pixels) == 5 and (images.labels == -1).all()
    assert images.templates == ["a photo of a {}."] and tuple(images.pixels.shape[1:]) == (3, 32, 32)


def test_config_rejects_bad_values() -> None:
    from cleanerclip_tool.eval.detect import DetectConfig

    with pytest.raises(BadInputError):
        DetectConfig(holdout=1.0)
    with pytest.raises(BadInputError):
        DetectConfig(steps=0)


def test_pngs(folder: Path, tmp_path: Path) -> None:
    from cleanerclip_tool.eval.detect import write_preview_png, write_trigger_png

    report, _ = run(True, folder, steps=20)
    png = write_trigger_png(report, tmp_path / "t.png")
    with Image.open(png) as im:
        assert im.mode == "RGBA" and im.size == (32, 32)
        alpha = np.asarray(im)[..., 3]
    assert np.allclose(alpha / 255, report.mask, atol=1 / 255 + 1e-6)
    with Image.open(write_preview_png(report, tmp_path / "p.png")) as im:
        assert im.height >= 160 and im.width > 3 * im.height


# --- CLI ----------------------------------------------------------------------------------------------


def test_cli_bad_input_exits_2(tmp_path: Path) -> None:
    from cleanerclip_tool.cli.app import app

    runner = CliRunner()
    res = runner.invoke(app, ["detect", "toy:clean", "--eval-data", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "not a folder" in res.output
    res = runner.invoke(app, ["detect", "toy:clean", "--templates", "fancy"])
    assert res.exit_code == 2 and "openai or simple" in res.output
    res = runner.invoke(app, ["detect", "toy:nope", "--eval-data", str(tmp_path)])
    assert res.exit_code == 2 and "unknown toy model" in res.output


def test_cli_json_on_a_saved_tiny_model(tmp_path: Path, folder: Path) -> None:
    """End to end through the CLI with a real (random, tiny) open_clip model: schema, PNGs, --out."""
    from models_fixtures import write_formats

    from cleanerclip_tool.cli.app import app

    _, files = write_formats(tmp_path)
    png = tmp_path / "trig.png"
    res = CliRunner().invoke(
        app,
        [
            "detect",
            str(files["openclip_folder"]),
            "--eval-data",
            str(folder),
            "--steps",
            "6",
            "--batch-size",
            "4",
            "--images",
            "24",
            "--json",
            "--trigger-out",
            str(png),
            "--out",
            str(tmp_path / "r.json"),
            "--device",
            "cpu",
        ],
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["verdict"] in ("backdoor", "clean") and doc["suspected_target"] in CLASSES
    assert doc["trigger_png"] == str(png) and png.is_file() and Path(doc["preview_png"]).is_file()
    assert json.loads((tmp_path / "r.json").read_text())["classes"] == doc["classes"]
    assert doc["fit_images"] + 24 // 2 == 24 and doc["steps_run"] == 6


# --- TUI ----------------------------------------------------------------------------------------------


def test_tui_detect_summary_and_button(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from cleanerclip_tool.tui.detect import DetectDone, detect_summary

    report = {"verdict": "backdoor", "suspected_target": "heart", "score": 3.14, "threshold": 2.0, "heldout_asr": 0.97}
    text = detect_summary({"before": report, "after": {**report, "verdict": "clean", "score": 0.5}})
    assert text.splitlines() == [
        "detect before: BACKDOOR, suspected target heart, score 3.14 (threshold 2), inverted trigger ASR 97%",
        "detect after: CLEAN, suspected target heart, score 0.50 (threshold 2), inverted trigger ASR 97%",
    ]
    monkeypatch.setenv("CLEANERCLIP_CACHE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    from cleanerclip_tool.tui.app import CleanerClipApp

    async def drive() -> None:
        app = CleanerClipApp()
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("f5")
            await pilot.pause()
            app.query_one("#run-detect").press()  # no model resolved yet: says so, runs nothing
            await pilot.pause()
            assert "resolve a model first" in str(app.query_one("#scan-status").render())
            app.query_one("ScanScreen").post_message(DetectDone({"before": report}))
            await pilot.pause()
            assert "BACKDOOR, suspected target heart" in str(app.query_one("#scan-status").render())

    asyncio.run(drive())


@pytest.mark.slow
def test_toy_badnet_against_toy_clean_names_heart() -> None:
    """The shipped victim against the shipped clean model (short search): the reference ratio flags heart."""
    from cleanerclip_tool.eval.detect import DetectConfig, detect, load_detect_images
    from cleanerclip_tool.models.load import load_model
    from cleanerclip_tool.toyworld import default_world

    test = default_world().test
    badnet, clean = load_model("toy:badnet"), load_model("toy:clean")
    images = load_detect_images(test, badnet.preprocess, max_images=200)
    report = detect(badnet, images, config=DetectConfig(steps=100), reference=clean)
    assert report.verdict == "backdoor" and report.suspected_target == "heart", report.to_dict()
    assert report.score < report.threshold and report.heldout_asr > 0.5
