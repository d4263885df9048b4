from __future__ import annotations

import hashlib
import json
from pathlib import Path

import huggingface_hub.constants as hf_constants
import pytest
import torch
from hubcache import add_repo_to_cache
from models_fixtures import register_tiny_arch, write_formats, write_openai_torchscript
from tiny import make_tiny_model, tiny_cfg
from typer.testing import CliRunner

from cleanerclip_tool.cli.app import app
from cleanerclip_tool.models.load import build_loaded_model
from cleanerclip_tool.models.save import save_model

runner = CliRunner()


@pytest.fixture(scope="module")
def saved_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    loaded = build_loaded_model(tiny_cfg(), make_tiny_model(0), source="test", kind="custom")
    loaded.card.history.append({"action": "pretrain", "seed": 0})
    return save_model(loaded.model, tmp_path_factory.mktemp("m") / "model", loaded.card)


def test_info_json_on_a_saved_folder(saved_folder: Path) -> None:
    result = runner.invoke(app, ["info", str(saved_folder), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["kind"] == "folder" and doc["parameters"] > 1_000_000
    assert doc["image_size"] == 32 and doc["context_length"] == 16 and doc["embed_dim"] == 32
    assert len(doc["sha256"]) == 64 and doc["history"][0]["action"] == "pretrain"


def test_info_table(saved_folder: Path) -> None:
    result = runner.invoke(app, ["info", str(saved_folder)])
    assert result.exit_code == 0
    assert "architecture" in result.output and "sha256" in result.output


def test_info_with_arch_flag_on_a_cleanclip_checkpoint(tmp_path: Path) -> None:
    arch = register_tiny_arch(tmp_path)
    _, paths = write_formats(tmp_path)
    result = runner.invoke(app, ["info", str(paths["cleanclip"]), "--arch", arch, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["architecture"] == arch


def test_info_corrupt_file_is_one_line_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"\x01\x02not really")
    result = runner.invoke(app, ["info", str(bad)])
    assert result.exit_code == 2
    assert "broken.safetensors" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 3  # one message, wrapped at most by the terminal width


def test_info_missing_file_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["info", str(tmp_path / "nope.pt")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_fetch_offline_without_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    result = runner.invoke(app, ["fetch", "hf-hub:acme/tiny-clip"])
    assert result.exit_code == 2
    assert "offline" in result.output and "cleanerclip fetch" in result.output


def test_fetch_from_cache_prints_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saved_folder: Path) -> None:
    cache = tmp_path / "hub"
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    snapshot = add_repo_to_cache(cache, "acme/tiny-clip", saved_folder, "c" * 40)
    result = runner.invoke(app, ["fetch", "hf-hub:acme/tiny-clip"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == str(snapshot)
    doc = json.loads(runner.invoke(app, ["fetch", "hf-hub:acme/tiny-clip", "--json"]).stdout)
    assert doc["path"] == str(snapshot) and doc["revision"] == "c" * 40 and doc["schema_version"] == 1


def test_fetch_refuses_local_files(saved_folder: Path) -> None:
    result = runner.invoke(app, ["fetch", str(saved_folder)])
    assert result.exit_code == 2


@pytest.fixture(scope="module")
def all_formats(tmp_path_factory: pytest.TempPathFactory, saved_folder: Path) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("cli-formats")
    register_tiny_arch(tmp)
    _, paths = write_formats(tmp)
    write_openai_torchscript(tmp / "openai.pt")
    return {**paths, "torchscript": tmp / "openai.pt", "cleanerclip_folder": saved_folder}


@pytest.mark.parametrize(
    ("fmt", "kind"),
    [
        ("cleanclip", "file"),
        ("plain_pt", "file"),
        ("plain_bin", "file"),
        ("safetensors", "file"),
        ("openclip_folder", "folder"),
        ("cleanerclip_folder", "folder"),
        ("torchscript", "torchscript"),
    ],
)
def test_info_json_on_every_format(all_formats: dict[str, Path], fmt: str, kind: str) -> None:
    result = runner.invoke(app, ["info", str(all_formats[fmt]), "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)  # exactly one JSON document, nothing else on stdout
    assert doc["kind"] == kind and doc["path"] == str(all_formats[fmt])
    assert doc["embed_dim"] == 32 and doc["image_size"] == 32 and doc["context_length"] == 16
    assert doc["sha256"] == hashlib.sha256(_weights_file(all_formats[fmt]).read_bytes()).hexdigest()


def _weights_file(path: Path) -> Path:
    if path.is_file():
        return path
    return next(p for p in sorted(path.iterdir()) if p.suffix in (".safetensors", ".bin"))


def test_info_reports_the_detected_architecture_on_stderr(all_formats: dict[str, Path]) -> None:
    result = runner.invoke(app, ["info", str(all_formats["safetensors"])])
    assert result.exit_code == 0, result.output
    assert "detected from parameter shapes" in result.output


def test_info_refuses_a_pickle_needing_code_execution(tmp_path: Path) -> None:
    import os

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {tmp_path / 'PWNED'}",))

    bad = tmp_path / "evil.pt"
    torch.save({"state_dict": {}, "x": Evil()}, bad)
    result = runner.invoke(app, ["info", str(bad)])
    assert result.exit_code == 2 and "--trust-checkpoint" in result.output
    assert not (tmp_path / "PWNED").exists()
