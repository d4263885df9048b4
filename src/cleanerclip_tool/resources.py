"""Where shipped files live, for installed and editable installs alike.

The word banks sit at the repo root (``wordbanks/``) and are shipped in the wheel as
``cleanerclip_tool/wordbanks/``; in an editable install the package folder has no copy, so we fall
back to the repo root next to ``src/``.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def wordbanks_dir() -> Path:
    """The folder holding the shipped ``adjectives.txt``, ``relations.txt`` and ``nouns.txt``."""
    shipped = PACKAGE_DIR / "wordbanks"
    if shipped.is_dir():
        return shipped
    repo_root = PACKAGE_DIR.parent.parent / "wordbanks"
    if repo_root.is_dir():
        return repo_root
    raise FileNotFoundError(f"word banks not found in {shipped} or {repo_root}; the installation is incomplete")


def cache_dir() -> Path:
    """cleanerclip's own cache (sub-captions, toy world); ``CLEANERCLIP_CACHE`` overrides it."""
    import os

    import platformdirs

    override = os.environ.get("CLEANERCLIP_CACHE")
    path = Path(override) if override else Path(platformdirs.user_cache_dir("cleanerclip"))
    path.mkdir(parents=True, exist_ok=True)
    return path
