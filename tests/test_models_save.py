from __future__ import annotations

import json
from pathlib import Path

import open_clip
import pytest
import torch
from tiny import make_tiny_model, tiny_cfg

from cleanerclip_tool.errors import BadInputError
from cleanerclip_tool.models.load import build_loaded_model, load_model
from cleanerclip_tool.models.save import save_model


def test_saved_folder_loads_with_plain_open_clip_and_gives_identical_outputs(tmp_path: Path) -> None:
    loaded = build_loaded_model(tiny_cfg(), make_tiny_model(3), source="test", kind="custom")
    loaded.card.history.append({"action": "pretrain", "seed": 3})
    out = save_model(loaded.model, tmp_path / "saved", loaded.card, notes={"action": "purify", "method": "ft"})
    assert {p.name for p in out.iterdir()} >= {
        "open_clip_config.json",
        "open_clip_model.safetensors",
        "README.md",
        "cleanerclip_card.json",
    }
    plain, _, _preprocess = open_clip.create_model_and_transforms(f"local-dir:{out}")
    plain.eval()
    tokenizer = open_clip.get_tokenizer(f"local-dir:{out}")
    image = torch.rand(2, 3, 32, 32)
    text = tokenizer(["a big red heart", "a small blue circle"])
    with torch.no_grad():
        assert torch.equal(plain.encode_image(image), loaded.model.encode_image(image))
        assert torch.equal(plain.encode_text(text), loaded.model.encode_text(text))

    back = load_model(str(out))
    assert [h.get("action") for h in back.card.history] == ["pretrain", "purify"]
    readme = (out / "README.md").read_text()
    assert "purify" in readme and "local-dir:" in readme
    assert json.loads((out / "open_clip_config.json").read_text())["model_cfg"]["embed_dim"] == 32


def test_refuses_non_empty_folder_without_overwrite(tmp_path: Path) -> None:
    loaded = build_loaded_model(tiny_cfg(), source="test", kind="custom")
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(BadInputError, match="not empty"):
        save_model(loaded.model, target, loaded.card)
    save_model(loaded.model, target, loaded.card, overwrite=True)
    assert (target / "keep.txt").read_text() == "mine"
    assert not list(target.glob(".*.tmp"))


def test_saved_files_get_the_umask_mode_not_mkstemps_0600(tmp_path) -> None:
    """mkstemp's owner-only mode must not leak into saved models (shipped toy models, shared folders)."""
    import os

    from cleanerclip_tool.models.save import _atomic_text

    old = os.umask(0o022)
    try:
        _atomic_text(tmp_path / "card.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "card.json").stat().st_mode & 0o777 == 0o644
