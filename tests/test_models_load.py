from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from models_fixtures import TINY_ARCH, register_tiny_arch, write_formats

from cleanerclip_tool.errors import BadInputError, ModelResolveError, UnsafeCheckpointError
from cleanerclip_tool.events import Info
from cleanerclip_tool.models.load import load_model
from cleanerclip_tool.models.safe_load import normalise_state_dict

IMG = torch.linspace(-1, 1, 2 * 3 * 32 * 32).reshape(2, 3, 32, 32)


@pytest.fixture(scope="module")
def formats(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("formats")
    register_tiny_arch(tmp)
    return write_formats(tmp)


@pytest.mark.parametrize("fmt", ["cleanclip", "plain_pt", "plain_bin", "safetensors", "openclip_folder"])
def test_every_format_loads_the_same_weights(formats, fmt: str) -> None:
    reference, paths = formats
    events: list = []
    loaded = load_model(str(paths[fmt]), on_event=events.append)
    with torch.no_grad():
        assert torch.equal(loaded.model.encode_image(IMG), reference.encode_image(IMG))
    card = loaded.card
    assert card.parameters == sum(p.numel() for p in reference.parameters())
    assert card.sha256 and len(card.sha256) == 64
    assert card.model_cfg["embed_dim"] == 32 and card.context_length == 16
    assert loaded.tokenizer(["a red square"]).shape == (1, 16)
    if fmt != "openclip_folder":
        assert card.architecture == TINY_ARCH and card.kind == "file"
        assert any(isinstance(e, Info) and TINY_ARCH in e.message for e in events)
    else:
        assert card.kind == "folder"


def test_local_dir_prefix(formats) -> None:
    _, paths = formats
    assert load_model(f"local-dir:{paths['openclip_folder']}").card.kind == "folder"


def test_arch_flag_wins_and_wrong_arch_reports_keys(formats) -> None:
    _, paths = formats
    assert load_model(str(paths["safetensors"]), arch=TINY_ARCH).card.architecture == TINY_ARCH
    with pytest.raises(BadInputError, match="do not fit.*missing key"):
        load_model(str(paths["safetensors"]), arch="RN50")


def test_unknown_state_dict_asks_for_arch(tmp_path: Path) -> None:
    path = tmp_path / "odd.pt"
    torch.save({"foo.weight": torch.zeros(3, 3)}, path)
    with pytest.raises(ModelResolveError, match="--arch"):
        load_model(str(path))


def test_module_prefix_stripped_only_when_all_keys_have_it() -> None:
    t = torch.zeros(1)
    assert set(normalise_state_dict({"module.a": t, "module.b": t}, where="x")) == {"a", "b"}
    assert set(normalise_state_dict({"module.a": t, "b": t}, where="x")) == {"module.a", "b"}


class _TouchOnUnpickle:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (os.system, (f"touch {self.target}",))


class _EvalOnUnpickle:
    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self):
        return (eval, (f"open({str(self.target)!r}, 'w').close()",))


@pytest.mark.parametrize("shape", ["zip_pt", "raw_bin", "nested", "eval"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path: Path, shape: str) -> None:
    marker = tmp_path / "PWNED"
    payload = _EvalOnUnpickle(marker) if shape == "eval" else _TouchOnUnpickle(marker)
    path = tmp_path / ("evil.bin" if shape == "raw_bin" else "evil.pt")
    if shape == "nested":
        obj = {"state_dict": {"a": torch.zeros(1), "deep": {"deeper": [payload]}}}
    else:
        obj = {"state_dict": {"a": torch.zeros(1)}, "extra": payload}
    if shape == "raw_bin":
        with open(path, "wb") as fh:
            pickle.dump(obj, fh)
    else:
        torch.save(obj, path)
    with pytest.raises(UnsafeCheckpointError, match="--trust-checkpoint"):
        load_model(str(path))
    assert not marker.exists()
    # With explicit trust the file is unpickled (and its payload runs): the flag is the only way.
    with pytest.raises(BadInputError):
        load_model(str(path), trust_checkpoint=True)
    assert marker.exists()


@pytest.mark.parametrize("name", ["trunc.pt", "trunc.safetensors", "garbage.bin"])
def test_corrupt_files_name_the_file(formats, tmp_path: Path, name: str) -> None:
    _, paths = formats
    source = paths["safetensors"] if name.endswith(".safetensors") else paths["plain_pt"]
    bad = tmp_path / name
    data = source.read_bytes()
    bad.write_bytes(b"\x00garbage" * 10 if name.startswith("garbage") else data[: len(data) // 3])
    with pytest.raises(BadInputError) as info:
        load_model(str(bad))
    assert name in str(info.value) and "\n" not in str(info.value)


def test_bad_folder_config(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "open_clip_config.json").write_text("{not json")
    with pytest.raises(BadInputError, match="open_clip_config.json.*JSON"):
        load_model(str(folder))


def test_unknown_specs(tmp_path: Path) -> None:
    with pytest.raises(ModelResolveError, match="no such file"):
        load_model(str(tmp_path / "nope.pt"))
    with pytest.raises(ModelResolveError, match="unknown open_clip architecture"):
        load_model("NotAnArch:openai")
    with pytest.raises(ModelResolveError, match="unknown pretrained tag"):
        load_model("RN50:nosuchtag")


def test_pretrained_tag_offline_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(ModelResolveError, match="could not get the pretrained weights.*fetch"):
        load_model("RN50:openai")
