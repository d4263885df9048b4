"""Fetching models from the Hugging Face Hub into the Hub's own cache.

open_clip's ``hf-hub:`` loader takes no revision, so we resolve ``hf-hub:org/name@revision`` with
``huggingface_hub.snapshot_download`` ourselves (honouring ``HF_HOME``, ``HF_HUB_CACHE`` and
``HF_HUB_OFFLINE``), record the commit the snapshot resolved to, and open the snapshot folder as a
local open_clip folder. Only the config and one weights file are fetched, safetensors first; no
remote code is ever run.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cleanerclip_tool.errors import ModelResolveError
from cleanerclip_tool.events import EventCallback, Info, ignore_event

CONFIG_FILE = "open_clip_config.json"
SAFETENSORS_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.safetensors")
PICKLE_FILES = ("open_clip_pytorch_model.bin", "open_clip_model.bin")
EXTRA_FILES = ("README.md", "cleanerclip_card.json")
# A Hugging Face tokenizer's files (SigLIP family): open_clip reads them from the model folder.
TOKENIZER_PATTERNS = (
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.json",
    "vocab.txt",
    "merges.txt",
    "*.model",
)


@dataclass(frozen=True)
class FetchResult:
    repo_id: str
    revision: str  # the resolved commit sha
    path: Path  # the snapshot folder in the Hub cache


def parse_hub_spec(spec: str, revision: str | None = None) -> tuple[str, str | None]:
    """``hf-hub:org/name@rev`` → (``org/name``, ``rev``); an explicit ``revision`` must agree."""
    body = spec[len("hf-hub:") :] if spec.startswith("hf-hub:") else spec
    repo_id, _, spec_rev = body.partition("@")
    repo_id = repo_id.strip().strip("/")
    if repo_id.count("/") != 1 or not all(repo_id.split("/")):
        raise ModelResolveError("expected hf-hub:org/name[@revision]", where=spec)
    if spec_rev and revision and spec_rev != revision:
        raise ModelResolveError(f"two revisions given ({spec_rev!r} in the spec, {revision!r} by flag)", where=spec)
    return repo_id, revision or spec_rev or None


def fetch_model(spec: str, *, revision: str | None = None, on_event: EventCallback = ignore_event) -> FetchResult:
    """Download (or find offline) the config and preferred weights; return the snapshot folder."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import (
        EntryNotFoundError,
        HfHubHTTPError,
        LocalEntryNotFoundError,
        OfflineModeIsEnabled,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    repo_id, rev = parse_hub_spec(spec, revision)
    on_event(Info(f"fetching {repo_id}@{rev or 'main'} from the Hugging Face Hub (cached downloads are reused)"))
    try:
        path = Path(
            snapshot_download(
                repo_id,
                revision=rev,
                allow_patterns=[CONFIG_FILE, *SAFETENSORS_FILES, *EXTRA_FILES, *TOKENIZER_PATTERNS],
            )
        )
        if not any((path / name).is_file() for name in SAFETENSORS_FILES):
            # No safetensors weights in this repo: fall back to the pickle file (read weights-only later).
            path = Path(
                snapshot_download(
                    repo_id, revision=rev, allow_patterns=[CONFIG_FILE, *PICKLE_FILES, *TOKENIZER_PATTERNS]
                )
            )
    except RepositoryNotFoundError:
        raise ModelResolveError("repository not found on the Hub (or it is private)", where=spec) from None
    except RevisionNotFoundError:
        raise ModelResolveError(f"revision {rev!r} not found", where=spec) from None
    except (LocalEntryNotFoundError, OfflineModeIsEnabled, EntryNotFoundError):
        raise ModelResolveError(
            "not in the local Hugging Face cache and the Hub cannot be reached (offline)",
            where=spec,
            hint=(
                "run `cleanerclip fetch " + spec + "` on a connected machine and copy its HF_HOME cache here, "
                "or download the folder and pass its path"
            ),
        ) from None
    except HfHubHTTPError as exc:
        raise ModelResolveError(f"Hub request failed ({' '.join(str(exc).split())[:160]})", where=spec) from None
    except OSError as exc:
        raise ModelResolveError(f"cannot fetch ({exc})", where=spec) from None
    if not (path / CONFIG_FILE).is_file():
        raise ModelResolveError(f"repository has no {CONFIG_FILE}: not an open_clip model", where=spec)
    return FetchResult(repo_id=repo_id, revision=path.name, path=path)
