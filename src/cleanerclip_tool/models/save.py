"""Saving a model so that plain open_clip loads it: ``open_clip.create_model_and_transforms('local-dir:' + out)``.

The folder holds ``open_clip_config.json`` (``model_cfg`` + ``preprocess_cfg``, the layout open_clip
reads for ``local-dir:`` and ``hf-hub:``), ``open_clip_model.safetensors`` (tensors only: safe for
whoever downloads it next), ``cleanerclip_card.json`` (our card, history included) and a README.md
model card saying what was done, with which settings.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from cleanerclip_tool.errors import BadInputError
from cleanerclip_tool.models.card import ModelCard, sha256_file
from cleanerclip_tool.models.load import CARD_NAME, CONFIG_NAME

WEIGHTS_NAME = "open_clip_model.safetensors"
#: What a Hugging Face tokenizer may keep in a model folder (``transformers.AutoTokenizer`` layout).
TOKENIZER_FILES: frozenset[str] = frozenset(
    {
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.json",
        "vocab.txt",
        "merges.txt",
        "spiece.model",
        "sentencepiece.bpe.model",
        "tokenizer.model",
    }
)


def check_output_folder(out_dir: str | Path, *, overwrite: bool = False) -> Path:
    """The folder a model will be saved in, refused when it is a file or holds files (unless
    ``overwrite``). ``save_model`` checks it; a command that trains first checks it before training."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise BadInputError("output exists and is not a folder", where=out)
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise BadInputError("output folder is not empty", where=out, hint="pass --overwrite or choose another folder")
    return out


def save_model(
    model: Any,
    out_dir: str | Path,
    card: ModelCard,
    *,
    notes: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the open_clip folder; return its path. ``notes`` become a history entry on the card."""
    import open_clip
    from safetensors.torch import save_file

    out = check_output_folder(out_dir, overwrite=overwrite)
    out.mkdir(parents=True, exist_ok=True)

    history = list(card.history)
    if notes:
        history.append({"saved": datetime.now(timezone.utc).isoformat(timespec="seconds"), **notes})
    preprocess_cfg = {**card.preprocess_cfg, **open_clip.get_model_preprocess_cfg(model)}
    config = {"model_cfg": card.model_cfg, "preprocess_cfg": _jsonable(preprocess_cfg)}

    # clone: safetensors refuses tensors that share storage; contiguous: it refuses views too.
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    _atomic_write(out / WEIGHTS_NAME, lambda tmp: save_file(tensors, str(tmp), metadata={"format": "pt"}))
    saved_card = ModelCard.from_dict({**card.to_dict(), "history": history})
    saved_card.path = str(out)
    saved_card.sha256 = sha256_file(out / WEIGHTS_NAME)
    saved_card.preprocess_cfg = config["preprocess_cfg"]
    _atomic_text(out / CONFIG_NAME, json.dumps(config, indent=2) + "\n")
    _atomic_text(out / CARD_NAME, json.dumps(saved_card.to_dict(), indent=2, default=str) + "\n")
    _atomic_text(out / "README.md", render_readme(saved_card))
    if card.path and Path(card.path).resolve() != out.resolve():
        copy_tokenizer_files(card.path, out)
    return out


def render_readme(card: ModelCard) -> str:
    """The Hugging Face model card (``models.hubcard``): what the model is and what was done to it."""
    from cleanerclip_tool.models.hubcard import render_model_card

    return render_model_card(card)


def copy_tokenizer_files(source: str | Path | None, out: Path) -> list[str]:
    """Copy a Hugging Face tokenizer's files (SigLIP and other ``hf_tokenizer_name`` models) along.

    open_clip's ``get_tokenizer('local-dir:...')`` reads them from the model folder, so a saved
    model whose source folder had them must keep them to stay loadable.
    """
    import shutil

    if source is None or not Path(source).is_dir():
        return []
    copied = []
    for item in sorted(Path(source).iterdir()):
        if item.is_file() and item.name in TOKENIZER_FILES:
            shutil.copyfile(item, out / item.name)
            copied.append(item.name)
    return copied


def _default_file_mode() -> int:
    """The mode a plain ``open(..., "w")`` would give (0o666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temp file in the same folder, fsync, then rename over ``path``.

    ``mkstemp`` creates the temp file owner-only (0600); the saved model gets the usual umask mode
    instead, so a model saved for a team, or shipped in a wheel, is readable like any other file.
    """
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.chmod(tmp, _default_file_mode())
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _atomic_text(path: Path, text: str) -> None:
    _atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda o: list(o) if isinstance(o, tuple) else str(o)))
