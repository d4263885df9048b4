"""The model card a purified model carries: Hub metadata and every setting that changed the weights."""

from __future__ import annotations

import json
from pathlib import Path

import open_clip
import pytest
from engine_fixtures import draw_caption_set, tiny_loaded
from huggingface_hub import ModelCard as HubModelCard

from cleanerclip_tool.config import PurifyConfig
from cleanerclip_tool.data.captions import load_caption_table
from cleanerclip_tool.engine import purify
from cleanerclip_tool.errors import ModelResolveError
from cleanerclip_tool.models.hubcard import render_model_card
from cleanerclip_tool.models.load import load_model
from cleanerclip_tool.models.save import save_model


@pytest.fixture(scope="module")
def purified(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("card")
    loaded = tiny_loaded()
    base = save_model(loaded.model, tmp / "base", loaded.card)
    readme = base / "README.md"
    readme.write_text(readme.read_text().replace("library_name: open_clip", "library_name: open_clip\nlicense: mit"))
    start = load_model(str(base))
    table = load_caption_table(draw_caption_set(tmp / "data", n=24))
    config = PurifyConfig(
        method="cleanerclip", samples=8, epochs=1, batch_size=8, lr=1e-3, warmup=1, workers=0, out=str(tmp / "run")
    )
    result = purify(start, table, config)
    assert result.model_dir is not None
    return result.model_dir


def test_card_has_hub_metadata_and_every_weight_setting(purified: Path) -> None:
    card = HubModelCard.load(purified / "README.md")
    assert card.data.library_name == "open_clip"
    assert {"backdoor-defense", "open_clip", "method:cleanerclip"} <= set(card.data.tags)
    assert card.data.license == "mit"  # inherited from the starting model's card
    text = card.text
    needles = [
        "K (CFA samples",
        "λ1",
        "λ2",
        "τ+",
        "τ−",
        "warmup steps",
        "learning-rate schedule",
        "spaCy model",
        "word banks",
        "EDA synonym source",
        "seed",
        "open_clip",
        "torch",
        "caption file sha256",
        "## Starting model",
    ]
    for needle in needles:
        assert needle in text, needle
    entry = json.loads((purified / "cleanerclip_card.json").read_text())["history"][-1]
    assert entry["warmup"] == 1 and entry["base"]["license"] == "mit" and entry["base"]["sha256"]
    assert set(entry["versions"]) >= {"cleanerclip", "torch", "open_clip", "huggingface_hub"}


def test_hub_base_model_and_scan_table(purified: Path) -> None:
    loaded = load_model(str(purified))
    entry = loaded.card.history[-1]
    entry["base"] = {**entry["base"], "source": "hf-hub:acme/clip@v1", "kind": "hub"}
    scan = {
        "scans": [
            {"label": "before", "results": [{"attack": "badnet", "ba": {"1": 0.9}, "asr": {"1": 0.99}}]},
            {"label": "after", "results": [{"attack": "badnet", "ba": {"1": 0.88}, "asr": {"1": 0.05}}]},
        ]
    }
    text = render_model_card(loaded.card, repo_id="me/clean-clip", scan=scan)
    card = HubModelCard(text)
    assert card.data.base_model == "acme/clip"
    assert "scanned:badnet" in card.data.tags
    assert "| badnet | 90.0 | 99.0 | 88.0 | 5.0 |" in text
    assert 'create_model_and_transforms("hf-hub:me/clean-clip")' in text


def test_folder_tokenizer_comes_from_open_clip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = tiny_loaded()
    folder = save_model(loaded.model, tmp_path / "m", loaded.card)
    seen: list[str] = []
    real = open_clip.get_tokenizer

    def recording(name: str = "", *args, **kwargs):
        seen.append(name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(open_clip, "get_tokenizer", recording)
    back = load_model(str(folder))
    assert seen == [f"local-dir:{folder}"]
    assert back.tokenizer(["a red heart"]).shape == (1, 16)


def test_hf_tokenizer_without_transformers_says_what_is_missing(tmp_path: Path) -> None:
    pytest.importorskip("huggingface_hub")
    try:
        import transformers  # noqa: F401

        pytest.skip("transformers is installed")
    except ImportError:
        pass
    loaded = tiny_loaded()
    folder = save_model(loaded.model, tmp_path / "m", loaded.card)
    config = json.loads((folder / "open_clip_config.json").read_text())
    config["model_cfg"]["text_cfg"]["hf_tokenizer_name"] = "timm/ViT-B-16-SigLIP"
    (folder / "open_clip_config.json").write_text(json.dumps(config))
    with pytest.raises(ModelResolveError, match="transformers"):
        load_model(str(folder))
