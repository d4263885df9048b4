"""Publishing a purified model on the Hugging Face Hub, with its evidence.

``plan_push`` checks that a folder is a complete open_clip model (config, weights that load into
it), renders the model card for the target repository (``models.hubcard``: the starting model, the
purification settings, the clean data's hash, the before/after scan when one is given, a license)
and lists what would be uploaded; ``push`` creates the repository if needed and uploads the
folder with ``huggingface_hub``'s ``HfApi.create_repo`` and ``upload_folder`` (open_clip's own
``push_to_hf_hub`` is broken with huggingface_hub 2.x). Only the files open_clip and cleanerclip
read are uploaded: never checkpoints, logs or anything else that sits in the folder.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cleanerclip_tool.errors import BadInputError, JobFailedError
from cleanerclip_tool.events import EventCallback, Info, ignore_event

#: Files of a model folder that are uploaded (README.md is rendered anew).
UPLOADED = (
    "open_clip_config.json",
    "open_clip_model.safetensors",
    "open_clip_pytorch_model.safetensors",
    "open_clip_pytorch_model.bin",
    "cleanerclip_card.json",
)


@dataclass(frozen=True)
class PushPlan:
    """What ``push`` would do: the repository, the files (path in repo, bytes) and the card."""

    folder: Path
    repo_id: str
    revision: str | None
    files: tuple[tuple[str, int], ...]
    card_text: str
    license: str | None
    weights_sha256: str
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "repo_id": self.repo_id,
            "revision": self.revision or "main",
            "files": [{"path": p, "bytes": n} for p, n in self.files],
            "license": self.license,
            "weights_sha256": self.weights_sha256,
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class PushResult:
    repo_id: str
    revision: str
    commit: str
    commit_url: str
    repo_url: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def parse_target(target: str) -> str:
    """``hf-hub:org/name`` (or ``org/name``) → ``org/name``; a revision goes in ``--revision``."""
    body = target[len("hf-hub:") :] if target.startswith("hf-hub:") else target
    if "@" in body:
        raise BadInputError("name the branch with --revision, not @", where=target)
    repo_id = body.strip().strip("/")
    parts = repo_id.split("/")
    if len(parts) != 2 or not all(parts):
        raise BadInputError("expected hf-hub:org/name", where=target)
    return repo_id


def read_scan_report(path: Path) -> dict[str, Any]:
    """A scan report for the card: ``scan --report DIR``'s folder or report.json, or ``scan --out``'s JSON."""
    file = path / "report.json" if path.is_dir() else path
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInputError("scan report not found", where=file) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BadInputError(f"not a JSON scan report ({exc})", where=file) from None
    if not isinstance(doc, dict) or not (isinstance(doc.get("scans"), list) or isinstance(doc.get("results"), list)):
        raise BadInputError("not a cleanerclip scan report (no 'scans' or 'results')", where=file)
    return doc


def plan_push(
    folder: Path,
    target: str,
    *,
    revision: str | None = None,
    license: str | None = None,
    scan_report: Path | None = None,
    on_event: EventCallback = ignore_event,
) -> PushPlan:
    """Check the folder and render its card; raise ``BadInputError`` for anything incomplete."""
    from cleanerclip_tool.models.hubcard import base_model_of, render_model_card
    from cleanerclip_tool.models.load import FOLDER_WEIGHTS, load_model
    from cleanerclip_tool.models.save import TOKENIZER_FILES

    repo_id = parse_target(target)
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise BadInputError("not a folder (push uploads a saved model folder)", where=folder)
    weights = [n for n in FOLDER_WEIGHTS if (folder / n).is_file()]
    if not (folder / "open_clip_config.json").is_file() or not weights:
        raise BadInputError(
            "not a complete open_clip model folder (needs open_clip_config.json and open_clip_model.safetensors)",
            where=folder,
            hint="push the model/ folder `cleanerclip purify` wrote",
        )
    if weights[0] not in UPLOADED:
        raise BadInputError(f"weights as {weights[0]}: only safetensors or .bin are pushed", where=folder)
    on_event(Info(f"checking that {folder} loads"))
    loaded = load_model(str(folder))  # the config builds the model and the weights fit it, or BadInputError
    card = loaded.card
    scan = read_scan_report(scan_report) if scan_report is not None else None
    notes = []
    chosen_license = license or base_model_of(card).get("license")
    if license is None and chosen_license:
        notes.append(f"license {chosen_license!r} inherited from the starting model's card")
    card_text = render_model_card(card, repo_id=repo_id, license=chosen_license, scan=scan)
    names = [n for n in UPLOADED if (folder / n).is_file() and (n not in FOLDER_WEIGHTS or n == weights[0])]
    names += sorted(p.name for p in folder.iterdir() if p.name in TOKENIZER_FILES and p.is_file())
    files = [(n, (folder / n).stat().st_size) for n in names] + [("README.md", len(card_text.encode("utf-8")))]
    left = sorted(p.name for p in folder.iterdir() if p.name not in {*names, "README.md"})
    if left:
        notes.append(f"not uploaded: {', '.join(left)}")
    return PushPlan(
        folder=folder,
        repo_id=repo_id,
        revision=revision,
        files=tuple(sorted(files)),
        card_text=card_text,
        license=chosen_license,
        weights_sha256=str(card.sha256),
        notes=tuple(notes),
    )


def resolve_token(token: str | None = None) -> str:
    """The token: given, else ``HF_TOKEN``, else the one ``hf auth login`` saved; offline refuses."""
    import huggingface_hub.constants as hf_constants
    from huggingface_hub import get_token

    if hf_constants.HF_HUB_OFFLINE:
        raise BadInputError(
            "HF_HUB_OFFLINE is set: pushing needs the network", where="push", hint="unset HF_HUB_OFFLINE"
        )
    found = token or get_token()
    if not found:
        raise BadInputError(
            "no Hugging Face token: pushing needs one with write access",
            where="push",
            hint="set HF_TOKEN or run `hf auth login`",
        )
    return found


def push(
    plan: PushPlan,
    *,
    token: str,
    private: bool = False,
    commit_message: str | None = None,
    endpoint: str | None = None,
    on_event: EventCallback = ignore_event,
) -> PushResult:
    """Create the repository (and branch) if needed and upload the planned files in one commit."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi(endpoint=endpoint, token=token)
    revision = plan.revision
    message = commit_message or "Upload a model purified with cleanerclip"
    try:
        on_event(Info(f"creating {plan.repo_id} on {api.endpoint} if it does not exist"))
        repo_url = api.create_repo(plan.repo_id, private=private, exist_ok=True)
        if revision and revision != "main":
            api.create_branch(plan.repo_id, branch=revision, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="cleanerclip-push-") as tmp:
            staging = Path(tmp)
            for name, _size in plan.files:
                if name == "README.md":
                    (staging / name).write_text(plan.card_text, encoding="utf-8")
                else:
                    _link(plan.folder / name, staging / name)
            on_event(Info(f"uploading {len(plan.files)} files to {plan.repo_id}@{revision or 'main'}"))
            info = api.upload_folder(
                repo_id=plan.repo_id,
                folder_path=staging,
                revision=revision,
                commit_message=message,
            )
    except HfHubHTTPError as exc:
        status = getattr(getattr(exc, "response", None), "status_code", None)
        text = " ".join(str(exc).split())[:200]
        if status in (401, 403):
            raise BadInputError(
                f"the Hub refused the token ({status}): {text}", where=plan.repo_id, hint="a token with write access"
            ) from None
        raise JobFailedError(f"push failed: {text}", where=plan.repo_id) from None
    except Exception as exc:  # connection refused, DNS, timeouts (httpx's errors): the network failed
        text = " ".join(str(exc).split())[:200]
        raise JobFailedError(
            f"push failed: {type(exc).__name__} talking to {api.endpoint} ({text})", where=plan.repo_id
        ) from None
    return PushResult(
        repo_id=plan.repo_id,
        revision=revision or "main",
        commit=str(info.oid),
        commit_url=str(info.commit_url),
        repo_url=str(repo_url),
    )


def _link(src: Path, dst: Path) -> None:
    """A symbolic link (weights can be gigabytes; the upload reads through it), else a copy."""
    try:
        os.symlink(src.resolve(), dst)
    except OSError:
        import shutil

        shutil.copyfile(src, dst)


__all__ = ["PushPlan", "PushResult", "parse_target", "plan_push", "push", "read_scan_report", "resolve_token"]
