from __future__ import annotations

from pathlib import Path

import huggingface_hub.constants as hf_constants
import pytest
from hubcache import add_repo_to_cache
from tiny import make_tiny_model, tiny_cfg

from cleanerclip_tool.errors import ModelResolveError
from cleanerclip_tool.hub import fetch_model, parse_hub_spec
from cleanerclip_tool.models.load import build_loaded_model, load_model
from cleanerclip_tool.models.save import save_model

SHA_MAIN = "a" * 40
SHA_OLD = "b" * 40


@pytest.fixture()
def hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hf" / "hub"
    monkeypatch.setattr(hf_constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(hf_constants, "HF_HUB_OFFLINE", True)
    for seed, sha, ref in ((0, SHA_MAIN, "main"), (1, SHA_OLD, None)):
        loaded = build_loaded_model(tiny_cfg(), make_tiny_model(seed), source="t", kind="custom")
        folder = save_model(loaded.model, tmp_path / f"m{seed}", loaded.card)
        add_repo_to_cache(cache, "acme/tiny-clip", folder, sha, ref)
    return cache


def test_parse_hub_spec() -> None:
    assert parse_hub_spec("hf-hub:org/name") == ("org/name", None)
    assert parse_hub_spec("hf-hub:org/name@v1") == ("org/name", "v1")
    assert parse_hub_spec("hf-hub:org/name", "dev") == ("org/name", "dev")
    with pytest.raises(ModelResolveError):
        parse_hub_spec("hf-hub:justname")
    with pytest.raises(ModelResolveError, match="two revisions"):
        parse_hub_spec("hf-hub:o/n@a", "b")


def test_resolves_main_and_pinned_revision_offline(hub_cache: Path) -> None:
    fetched = fetch_model("hf-hub:acme/tiny-clip")
    assert fetched.revision == SHA_MAIN and fetched.path.is_dir()
    main = load_model("hf-hub:acme/tiny-clip")
    assert main.card.kind == "hub" and main.card.revision == SHA_MAIN
    pinned = load_model(f"hf-hub:acme/tiny-clip@{SHA_OLD}")
    assert pinned.card.revision == SHA_OLD
    assert pinned.card.sha256 != main.card.sha256


def test_offline_without_cache_says_how_to_get_it(hub_cache: Path) -> None:
    with pytest.raises(ModelResolveError, match="offline.*cleanerclip fetch"):
        fetch_model("hf-hub:acme/not-cached")


def test_cli_fetch_honours_hf_home_in_a_fresh_process(tmp_path: Path) -> None:
    """The real environment variables, read by huggingface_hub at import in a new interpreter."""
    import os
    import subprocess
    import sys

    hf_home = tmp_path / "hf-home"
    loaded = build_loaded_model(tiny_cfg(), make_tiny_model(0), source="t", kind="custom")
    folder = save_model(loaded.model, tmp_path / "m", loaded.card)
    snapshot = add_repo_to_cache(hf_home / "hub", "acme/tiny-clip", folder, SHA_MAIN)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_HOME=str(hf_home), HF_HUB_OFFLINE="1")
    cmd = [sys.executable, "-m", "cleanerclip_tool", "fetch", "hf-hub:acme/tiny-clip", "--revision", "main"]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(snapshot)
    missing = subprocess.run([*cmd[:4], "hf-hub:acme/other"], env=env, capture_output=True, text=True, timeout=120)
    assert missing.returncode == 2 and "offline" in missing.stderr and missing.stdout == ""
