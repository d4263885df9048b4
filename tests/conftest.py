"""Shared test set-up: no network, a private cache, tiny models."""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Offline before anything imports huggingface_hub (it reads the flag at import time).
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).parent))

import pytest


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test session gets its own cleanerclip cache so tests never share state with a user."""
    cache = tmp_path_factory.getbasetemp() / "cleanerclip-cache"
    cache.mkdir(exist_ok=True)
    monkeypatch.setenv("CLEANERCLIP_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def one_torch_thread():
    """Tiny models train fastest on one thread, and the CI machines are shared; restored afterwards.

    Use per module: ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
