"""Promise 2, the parts test_hub.py leaves open: a Hub repo that ships safetensors weights next to a
pickle and a Python file is loaded from the safetensors; the pickle is never unpickled and the
Python never runs (no remote code), offline from a prepared cache."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path

import huggingface_hub.constants as hf_constants
import pytest
import torch
from hubcache import add_repo_to_cache
from tiny import make_tiny_model, tiny_cfg

from cleanerclip_tool.models.load import build_loaded_model, load_model
from cleanerclip_tool.models.save import save_model

SHA = "c" * 40


class _TouchOnUnpickle:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


def test_hub_repo_loads_safetensors_never_the_pickle_or_its_code(tmp_path: Path, monkeypatch) -> None:
    cache = tmp_path / "hf" / "hub"
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    model = make_tiny_model(0)
    folder = save_model(model, tmp_path / "m", build_loaded_model(tiny_cfg(), model, source="t", kind="custom").card)
    unpickled, imported = tmp_path / "UNPICKLED", tmp_path / "IMPORTED"
    with open(folder / "open_clip_pytorch_model.bin", "wb") as fh:  # a poisoned pickle beside the safetensors
        pickle.dump({"state_dict": _TouchOnUnpickle(unpickled)}, fh)
    (folder / "modeling_clip.py").write_text(f"open({str(imported)!r}, 'w').close()\n")
    add_repo_to_cache(cache, "acme/two-formats", folder, SHA)

    loaded = load_model("hf-hub:acme/two-formats")
    assert loaded.card.kind == "hub" and loaded.card.revision == SHA
    weights = hashlib.sha256((folder / "open_clip_model.safetensors").read_bytes()).hexdigest()
    assert loaded.card.sha256 == weights  # the file read was the safetensors one
    assert not unpickled.exists() and not imported.exists()
    image = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.model.encode_image(image), model.encode_image(image))


def test_pickle_only_hub_repo_is_still_refused_without_trust(tmp_path: Path, monkeypatch) -> None:
    """The fallback to a pickle weights file reads it weights-only: a code-running pickle is refused."""
    from cleanerclip_tool.errors import UnsafeCheckpointError

    cache = tmp_path / "hf" / "hub"
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    model = make_tiny_model(0)
    folder = save_model(model, tmp_path / "m", build_loaded_model(tiny_cfg(), model, source="t", kind="custom").card)
    (folder / "open_clip_model.safetensors").unlink()
    marker = tmp_path / "UNPICKLED"
    poisoned = {"state_dict": {"a": torch.zeros(1)}, "x": _TouchOnUnpickle(marker)}
    torch.save(poisoned, folder / "open_clip_pytorch_model.bin")
    add_repo_to_cache(cache, "acme/pickle-only", folder, SHA)
    with pytest.raises(UnsafeCheckpointError, match="--trust-checkpoint"):
        load_model("hf-hub:acme/pickle-only")
    assert not marker.exists()
