"""``cleanerclip push`` against a Hub on 127.0.0.1 (``hubserver.FakeHub``), then a fresh-cache load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import huggingface_hub.constants as hf_constants
import pytest
from engine_fixtures import tiny_loaded
from hubserver import FakeHub
from huggingface_hub import ModelCard as HubModelCard
from typer.testing import CliRunner

from cleanerclip_tool.cli.app import app
from cleanerclip_tool.models.card import sha256_file
from cleanerclip_tool.models.save import save_model

runner = CliRunner()
TOKEN = "hf_test_token"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("push")
    loaded = tiny_loaded()
    base = {"source": "hf-hub:acme/tiny-clip", "kind": "hub", "revision": "a" * 40, "license": "apache-2.0"}
    notes = {"action": "purify", "method": "cleanerclip", "samples": 8, "lr": 1e-3, "base": base}
    folder = save_model(loaded.model, tmp / "run" / "model", loaded.card, notes=notes)
    (folder / "checkpoint-junk.pt").write_bytes(b"not uploaded")
    return folder


@pytest.fixture()
def online(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setenv("HF_TOKEN", TOKEN)


def _fresh_env(hub: FakeHub, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(tmp / "fresh-hf-home"), HF_ENDPOINT=hub.endpoint, HF_HUB_DISABLE_TELEMETRY="1")
    return env


def test_dry_run_lists_the_files_and_sends_nothing(model_dir: Path, online: None) -> None:
    with FakeHub() as hub:
        result = runner.invoke(
            app, ["push", str(model_dir), "hf-hub:me/clean", "--dry-run", "--json", "--endpoint", hub.endpoint]
        )
        assert result.exit_code == 0, result.output
        assert hub.requests == []
    doc = json.loads(result.stdout)
    assert [f["path"] for f in doc["files"]] == [
        "README.md",
        "cleanerclip_card.json",
        "open_clip_config.json",
        "open_clip_model.safetensors",
    ]
    assert doc["license"] == "apache-2.0" and "checkpoint-junk.pt" in doc["notes"][-1]
    assert HubModelCard(doc["card"]).data.base_model == "acme/tiny-clip"


def test_push_then_a_fresh_cache_loads_the_same_weights(model_dir: Path, online: None, tmp_path: Path) -> None:
    with FakeHub(token=TOKEN) as hub:
        result = runner.invoke(
            app, ["push", str(model_dir), "hf-hub:me/clean", "--private", "--endpoint", hub.endpoint, "--json"]
        )
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        pushed = hub.files("me/clean")
        assert hub.repos["me/clean"].private
        assert set(pushed) >= {"README.md", "open_clip_config.json", "open_clip_model.safetensors"}
        assert "checkpoint-junk.pt" not in pushed
        card = HubModelCard(pushed["README.md"].decode())
        assert card.data.library_name == "open_clip" and card.data.license == "apache-2.0"
        assert "backdoor-defense" in card.data.tags and card.data.base_model == "acme/tiny-clip"
        assert doc["commit"] == hub.repos["me/clean"].branches["main"]

        # A second push to the same repository and a branch: create_repo(exist_ok) and create_branch.
        again = runner.invoke(
            app, ["push", str(model_dir), "hf-hub:me/clean", "--revision", "v2", "--endpoint", hub.endpoint]
        )
        assert again.exit_code == 0, again.output
        assert "v2" in hub.repos["me/clean"].branches

        cmd = [sys.executable, "-m", "cleanerclip_tool", "info", "hf-hub:me/clean", "--json"]
        done = subprocess.run(cmd, env=_fresh_env(hub, tmp_path), capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["sha256"] == sha256_file(model_dir / "open_clip_model.safetensors")
    assert info["revision"] == doc["commit"]
    assert str(tmp_path / "fresh-hf-home") in info["path"]
    print(f"\npushed to {hub.endpoint}/me/clean at {doc['commit']}; fresh-cache sha256 {info['sha256'][:16]}… equal")
    print("requests the Hub answered:", *dict.fromkeys(hub.requests), sep="\n  ")


def test_offline_and_no_token_exit_2_saying_what_is_missing(
    model_dir: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(hf_constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", False)
    with FakeHub() as hub:
        args = ["push", str(model_dir), "hf-hub:me/clean", "--endpoint", hub.endpoint]
        no_token = runner.invoke(app, args)
        monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
        offline = runner.invoke(app, args)
        assert hub.requests == []
    assert no_token.exit_code == 2 and "no Hugging Face token" in no_token.output and "HF_TOKEN" in no_token.output
    assert offline.exit_code == 2 and "HF_HUB_OFFLINE" in offline.output


def test_a_wrong_token_and_an_incomplete_folder_exit_2(model_dir: Path, online: None, tmp_path: Path) -> None:
    with FakeHub(token="another") as hub:
        refused = runner.invoke(app, ["push", str(model_dir), "hf-hub:me/clean", "--endpoint", hub.endpoint])
    assert refused.exit_code == 2 and "refused the token" in refused.output
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "open_clip_config.json").write_text("{}")
    half = runner.invoke(app, ["push", str(tmp_path / "half"), "hf-hub:me/clean", "--dry-run"])
    assert half.exit_code == 2 and "not a complete open_clip model folder" in half.output
    bad = runner.invoke(app, ["push", str(model_dir), "hf-hub:justname", "--dry-run"])
    assert bad.exit_code == 2 and "org/name" in bad.output


def test_unknown_license_is_asked_for(tmp_path: Path, online: None) -> None:
    loaded = tiny_loaded()
    folder = save_model(loaded.model, tmp_path / "m", loaded.card, notes={"action": "purify", "method": "ft"})
    result = runner.invoke(app, ["push", str(folder), "hf-hub:me/x", "--endpoint", "http://127.0.0.1:9"])
    assert result.exit_code == 2 and "--license" in result.output
