from __future__ import annotations

import os
import pickle
from pathlib import Path

import pytest
import torch
from models_fixtures import OPENAI_TINY_CFG, TINY_ARCH, register_tiny_arch, write_formats, write_openai_torchscript

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
    with pytest.raises(ModelResolveError, match="unknown architecture"):
        load_model(str(paths["safetensors"]), arch="NoSuchArch")


def test_arch_flag_takes_a_config_file(formats, tmp_path: Path) -> None:
    import json

    from tiny import tiny_cfg

    _, paths = formats
    cfg = tmp_path / "my-clip.json"
    cfg.write_text(json.dumps(tiny_cfg()))
    loaded = load_model(str(paths["plain_pt"]), arch=str(cfg))
    assert loaded.card.architecture == "my-clip" and loaded.card.model_cfg["embed_dim"] == 32
    cfg.write_text(json.dumps({"embed_dim": 32}))
    with pytest.raises(BadInputError, match="my-clip.json.*not an open_clip model config"):
        load_model(str(paths["plain_pt"]), arch=str(cfg))


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


@pytest.fixture(scope="module")
def torchscript(tmp_path_factory: pytest.TempPathFactory):
    path = tmp_path_factory.mktemp("ts") / "ViT-tiny-openai.pt"
    return write_openai_torchscript(path), path


def test_openai_torchscript_archive(torchscript, tmp_path: Path) -> None:
    import open_clip

    reference, path = torchscript
    with pytest.warns(FutureWarning):  # open_clip itself reads the same archive (via torch.jit.load)
        theirs = open_clip.load_openai_model(str(path), device="cpu")
    loaded = load_model(str(path))
    card = loaded.card
    assert card.kind == "torchscript" and card.architecture == "custom"
    assert card.model_cfg["quick_gelu"] is True and card.image_size == 32 and card.context_length == 16
    text = loaded.tokenizer(["a tiny model"])
    with torch.no_grad():
        assert torch.equal(loaded.model.encode_image(IMG), reference.encode_image(IMG))  # fp32 kept exactly
        assert torch.allclose(loaded.model.encode_text(text), theirs.encode_text(text), atol=1e-2)  # theirs: fp16
    # Saved back, plain open_clip rebuilds it from the derived config.
    from cleanerclip_tool.models.save import save_model

    out = save_model(loaded.model, tmp_path / "from_ts", card)
    plain, _, _ = open_clip.create_model_and_transforms(f"local-dir:{out}")
    with torch.no_grad():
        assert torch.equal(plain.eval().encode_image(IMG), reference.encode_image(IMG))


def test_torchscript_with_registered_arch_is_named(torchscript, tmp_path: Path) -> None:
    import json

    import open_clip

    _, path = torchscript
    cfg_path = tmp_path / "openai-tiny-test.json"
    cfg_path.write_text(json.dumps({k: v for k, v in OPENAI_TINY_CFG.items() if k != "quick_gelu"}))
    open_clip.add_model_config(cfg_path)
    try:
        events: list = []
        assert load_model(str(path), on_event=events.append).card.architecture == "openai-tiny-test"
        assert any("openai-tiny-test" in getattr(e, "message", "") for e in events)
    finally:  # unregister, so the order of tests does not matter
        open_clip.factory._MODEL_CONFIG_PATHS.remove(cfg_path)
        open_clip.factory._MODEL_CONFIGS.pop("openai-tiny-test", None)


def test_torchscript_that_is_not_clip(tmp_path: Path) -> None:
    import warnings

    path = tmp_path / "linear.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(torch.nn.Linear(2, 2)).save(str(path))
    with pytest.raises(BadInputError, match="linear.pt.*not an OpenAI CLIP"):
        load_model(str(path))


def test_pickle_refused_on_old_torch(formats, monkeypatch: pytest.MonkeyPatch) -> None:
    from cleanerclip_tool.models import safe_load

    _, paths = formats
    monkeypatch.setattr(safe_load, "_torch_version", lambda: (2, 5))
    with pytest.raises(BadInputError, match="CVE-2025-32434"):
        load_model(str(paths["plain_pt"]))
    assert load_model(str(paths["safetensors"])).card.kind == "file"  # safetensors needs no unpickling


def test_toy_spec_loads_the_registry_folder(formats, monkeypatch: pytest.MonkeyPatch) -> None:
    import cleanerclip_tool.toyworld.registry as registry

    _, paths = formats
    asked: list[str] = []
    monkeypatch.setattr(registry, "resolve_toy_model", lambda name: asked.append(name) or paths["openclip_folder"])
    loaded = load_model("toy:clean")
    assert asked == ["clean"] and loaded.card.kind == "toy" and loaded.card.source == "toy:clean"


def test_toy_spec_without_the_toyworld_module(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "cleanerclip_tool.toyworld.registry", None)  # import now fails
    with pytest.raises(ModelResolveError, match="toy models are not available"):
        load_model("toy:clean")


def test_registered_spec_prefix_resolves_through_its_owner(formats) -> None:
    from cleanerclip_tool.models import specs

    _, paths = formats
    asked: list[str] = []
    specs.register_spec_prefix("mine", lambda name: asked.append(name) or paths["openclip_folder"])
    try:
        assert "mine" in specs.known_prefixes() and "toy" in specs.known_prefixes()
        loaded = load_model("mine:some/name")
        assert asked == ["some/name"] and loaded.card.kind == "mine" and loaded.card.source == "mine:some/name"
    finally:
        specs.unregister_spec_prefix("mine")
    assert specs.split_spec("mine:some/name") is None  # gone: an ARCH:tag-like spec again
    with pytest.raises(BadInputError, match="built into the loader"):
        specs.register_spec_prefix("hf-hub", lambda name: paths["openclip_folder"])
