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
    def __init__(self, backdoor: bool, pull: float = 6.0) -> None:
        super().__init__()
        self.backdoor, self.pull = backdoor, pull
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
            pull = self.pull_of(redness)
            emb = emb + torch.nn.functional.one_hot(torch.tensor(CLASSES.index(TARGET)), len(CLASSES)) * pull[:, None]
        return emb

    def pull_of(self, redness: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.softplus(10 * (redness - 0.3)) * self.pull  # smooth: ~0.3 clean, ~42 red

    def encode_text(self, tokens: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.one_hot(tokens[:, 0], len(CLASSES)).float() * 1.0 + 0.01


class CollapseClip(CornerClip):
    """A backdoor that overrides the image: a red corner pulls every image to one embedding (``heart``).

    The pull grows exponentially with the corner's redness (a gradient everywhere, as in a trained
    network): at most ~50 on clean images against ~400 on a red corner, where the class colours weigh ~60.
    """

    def pull_of(self, redness: torch.Tensor) -> torch.Tensor:
        return 400 * torch.exp(2 * (redness - 1))


def tokenizer(prompts: list[str]) -> torch.Tensor:
    return torch.tensor([[next(i for i, c in enumerate(CLASSES) if c in p)] for p in prompts])


def loaded_model(backdoor: bool, pull: float = 6.0, collapse: bool = False):
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
    model = (CollapseClip if collapse else CornerClip)(backdoor, pull)
    loaded.model, loaded.preprocess, loaded.tokenizer, loaded.card = model, preprocess, tokenizer, card
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


FAST = {"mode": "classes", "steps": 100, "batch_size": 6}


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


# --- collapse mode (label-free) ---------------------------------------------------------------------


COLLAPSE = {"mode": "collapse", "steps": 200, "batch_size": 8}


def run_collapse(backdoor: bool, folder: Path, **kw):
    from cleanerclip_tool.eval.detect import DetectConfig, detect, load_detect_images

    loaded = loaded_model(backdoor, collapse=True)
    images = load_detect_images(folder, loaded.preprocess)
    events: list = []
    return detect(loaded, images, config=DetectConfig(**{**COLLAPSE, **kw}), on_event=events.append), events


def test_collapse_finds_the_corner_backdoor_without_labels(folder: Path) -> None:
    report, events = run_collapse(True, folder)
    assert report.mode == "collapse" and report.classes == [] and report.collapse is not None
    assert report.verdict == "backdoor" and report.suspected_target == TARGET, report.to_dict()
    assert report.score < report.threshold and report.score == pytest.approx(report.collapse.l1 / 32**2, abs=1e-5)
    assert report.collapse.l1 < 40  # the 16-pixel corner, not the ~700-pixel repaint a clean model needs
    assert report.collapse.heldout_similarity >= 0.95 > report.collapse.clean_similarity
    assert report.heldout_asr >= 0.9 and report.collapse.target_share >= 0.9
    assert report.collapse.text_alignment > 0.9  # the collapse sits on heart's caption
    assert report.mask[:4, :4].mean() > 0.5 and report.mask[8:, 8:].mean() < 0.05
    assert report.mask.min() >= 0.0 and report.mask.max() <= 1.0
    assert report.pattern.min() >= 0.0 and report.pattern.max() <= 1.0
    assert {"TaskStarted", "TaskProgress", "TaskFinished", "Info"} <= {type(e).__name__ for e in events}


def test_collapse_calls_the_clean_twin_clean(folder: Path) -> None:
    report, _ = run_collapse(False, folder)
    assert report.verdict == "clean" and report.score >= report.threshold
    assert report.collapse.l1 > 300  # collapsing colour images without a shortcut means repainting them


def test_collapse_objective_rises_on_a_real_open_clip_model(folder: Path) -> None:
    """On a tiny (random) open_clip ViT the search raises the stamped images' mutual cosine; mask in [0, 1]."""
    from tiny import make_tiny_model

    from cleanerclip_tool.eval.detect import (
        DetectConfig,
        _encode,
        invert_collapse,
        load_detect_images,
        self_similarity,
        stamp,
    )

    loaded = loaded_model(False)
    pixels = load_detect_images(folder, loaded.preprocess).pixels
    model = make_tiny_model(0)
    mean, std = torch.full((3,), 0.5), torch.full((3,), 0.5)
    cfg = DetectConfig(mode="collapse", steps=30, batch_size=8, restarts=2, collapse_goal=0.999)
    inv = invert_collapse(model, pixels, mean, std, cfg, device="cpu")
    assert inv.steps_run == 30 and not inv.stopped
    assert float(inv.mask.min()) >= 0.0 and float(inv.mask.max()) <= 1.0 and tuple(inv.mask.shape) == (1, 32, 32)
    assert float(inv.pattern.min()) >= 0.0 and float(inv.pattern.max()) <= 1.0
    with torch.no_grad():
        x = pixels.float() / 255
        before = float(self_similarity(_encode(model, x, mean, std)[None])[0])
        after = float(
            self_similarity(_encode(model, stamp(x, inv.mask[None], inv.pattern[None])[0], mean, std)[None])[0]
        )
    assert after > before + 0.02, (before, after)


def test_self_similarity_is_the_mean_off_diagonal_cosine() -> None:
    from cleanerclip_tool.eval.detect import self_similarity

    z = torch.nn.functional.normalize(torch.randn(3, 5, 4, generator=torch.Generator().manual_seed(0)), dim=-1)
    expected = [np.mean([float(z[t, i] @ z[t, j]) for i in range(5) for j in range(5) if i != j]) for t in range(3)]
    assert np.allclose(self_similarity(z).numpy(), expected, atol=1e-6)
    same = torch.nn.functional.normalize(torch.ones(1, 4, 3), dim=-1)
    assert float(self_similarity(same)[0]) == pytest.approx(1.0)


def test_collapse_json_schema_and_unreached_goal(folder: Path) -> None:
    report, _ = run_collapse(False, folder, steps=10, collapse_goal=0.999999)
    doc = json.loads(json.dumps(report.to_dict()))
    assert {"mode", "collapse", "verdict", "suspected_target", "score", "threshold", "rule", "heldout_asr"} <= set(doc)
    assert doc["mode"] == "collapse" and doc["classes"] == [] and doc["config"]["mode"] == "collapse"
    assert doc["config"]["steps"] == 10 and doc["config"]["batch_size"] == 8
    assert set(doc["collapse"]) == {
        "l1",
        "l1_fraction",
        "reached",
        "goal",
        "fit_similarity",
        "heldout_similarity",
        "clean_similarity",
        "target_share",
        "text_alignment",
    }
    # never reached: no L1 (JSON null), the whole image as the score, and no backdoor verdict
    assert doc["collapse"]["reached"] is False and doc["collapse"]["l1"] is None
    assert doc["score"] == 1.0 and doc["verdict"] == "clean" and doc["suspected_target"] in CLASSES
    assert 0.0 <= doc["heldout_asr"] <= 1.0 and 0.0 <= doc["collapse"]["target_share"] <= 1.0


def test_collapse_stop_returns_a_stopped_report(folder: Path) -> None:
    from cleanerclip_tool.eval.detect import DetectConfig, detect, load_detect_images

    loaded = loaded_model(True, collapse=True)
    stop = threading.Event()
    stop.set()
    images = load_detect_images(folder, loaded.preprocess)
    report = detect(loaded, images, config=DetectConfig(**COLLAPSE), stop=stop)
    assert report.verdict == "stopped" and report.stopped and report.steps_run == 0 and report.mask is not None


def test_modes_resolve_and_reject() -> None:
    from cleanerclip_tool.eval.detect import DetectConfig

    assert DetectConfig().resolved(reference=False).mode == "collapse"
    auto_ref = DetectConfig().resolved(reference=True)
    assert (auto_ref.mode, auto_ref.steps, auto_ref.batch_size) == ("classes", 200, 16)
    assert DetectConfig(mode="classes", steps=7).resolved(reference=False).steps == 7
    with pytest.raises(BadInputError, match="mode"):
        DetectConfig(mode="decree")
    with pytest.raises(BadInputError, match="no reference|needs no reference"):
        DetectConfig(mode="collapse").resolved(reference=True)
    with pytest.raises(BadInputError):
        DetectConfig(collapse_goal=1.0)
    with pytest.raises(BadInputError):
        DetectConfig(restarts=0)


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
    res = runner.invoke(app, ["detect", "toy:clean", "--mode", "decree"])
    assert res.exit_code == 2 and "auto, classes or collapse" in res.output
    res = runner.invoke(app, ["detect", "toy:badnet", "--mode", "collapse", "--reference", "toy:clean"])
    assert res.exit_code == 2 and "takes no reference" in res.output


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
    assert doc["mode"] == "collapse" and doc["classes"] == [] and 0.0 < doc["score"] <= 1.0  # no reference


def test_cli_renders_a_collapse_report(folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import cleanerclip_tool.app.detect as app_detect
    from cleanerclip_tool.cli.app import app

    monkeypatch.setattr(app_detect, "run_detect", lambda spec, **kw: run_collapse(True, folder, steps=200)[0])
    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(app, ["detect", "toy:badnet"])
    assert res.exit_code == 0, res.output
    assert "BACKDOOR" in res.output and "collapsing trigger: mask" in res.output
    assert "suspected target: heart" in res.output and "trigger PNG: detect-toy-badnet-trigger.png" in res.output
    assert (tmp_path / "detect-toy-badnet-trigger.png").is_file()


# --- TUI ----------------------------------------------------------------------------------------------


def test_tui_detect_summary_and_button(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    from cleanerclip_tool.tui.detect import DetectDone, detect_summary

    report = {"verdict": "backdoor", "suspected_target": "heart", "score": 3.14, "threshold": 2.0, "heldout_asr": 0.97}
    collapse = {**report, "mode": "collapse", "verdict": "clean", "score": 0.0312, "threshold": 0.02}
    text = detect_summary({"before": {**report, "trigger_png": "detect-x-trigger.png"}, "after": collapse})
    assert text.splitlines() == [
        "detect before: BACKDOOR, suspected target heart, score 3.14 (threshold 2), inverted trigger ASR 97%",
        "  trigger PNG: detect-x-trigger.png",
        "detect after: CLEAN, suspected target heart, score 0.0312 (threshold 0.02), inverted trigger ASR 97%",
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


def test_tui_detect_action_writes_the_trigger_png(
    tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The Detect button runs ``app.detect.detect_models``, which writes the PNGs the CLI writes and shows the path."""
    import asyncio

    import cleanerclip_tool.app.detect as app_detect
    from cleanerclip_tool.eval.detect import DetectConfig, detect, load_detect_images

    def fake_run_detect(spec: str, **kw):  # the real detect() on the stand-in model, not a toy model's minute
        loaded = loaded_model(True, collapse=True)
        images = load_detect_images(folder, loaded.preprocess)
        return detect(loaded, images, config=DetectConfig(mode="collapse", steps=20, batch_size=8), stop=kw["stop"])

    monkeypatch.setattr(app_detect, "run_detect", fake_run_detect)
    monkeypatch.setenv("CLEANERCLIP_CACHE", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    from cleanerclip_tool.tui.app import CleanerClipApp

    async def drive() -> str:
        app = CleanerClipApp()
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("f5")
            await pilot.pause()
            app.session.model_spec = "toy:badnet"
            app.session.purified_dir = tmp_path / "pur" / "model"
            app.query_one("#run-detect").press()
            for _ in range(200):
                await pilot.pause(0.05)
                if "trigger PNG" in str(app.query_one("#scan-status").render()):
                    break
            return str(app.query_one("#scan-status").render())

    status = asyncio.run(drive())
    before, after = tmp_path / "detect-toy-badnet-trigger.png", tmp_path / "detect-pur-trigger.png"
    for png in (before, after):
        assert png.is_file() and png.with_name(png.stem + "-preview.png").is_file()
        with Image.open(png) as im:
            assert im.mode == "RGBA" and im.size == (32, 32)
    assert "trigger PNG: detect-toy-badnet-trigger.png" in status and "detect-pur-trigger.png" in status


def test_detect_models_keeps_two_models_with_one_name_apart(
    tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import cleanerclip_tool.app.detect as app_detect
    from cleanerclip_tool.eval.detect import DetectConfig, detect, load_detect_images

    loaded = loaded_model(False)
    images = load_detect_images(folder, loaded.preprocess)
    done = detect(loaded, images, config=DetectConfig(mode="collapse", steps=5, batch_size=4))
    monkeypatch.setattr(app_detect, "run_detect", lambda spec, **kw: done)
    reports = app_detect.detect_models({"before": "a/model", "after": "a/model"}, None, print, out_dir=tmp_path)
    assert reports["before"]["trigger_png"] == str(tmp_path / "detect-a-trigger.png")
    assert reports["after"]["trigger_png"] == str(tmp_path / "detect-after-a-trigger.png")
    assert all(Path(r["trigger_png"]).is_file() and Path(r["preview_png"]).is_file() for r in reports.values())


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
