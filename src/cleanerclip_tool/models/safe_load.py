"""Reading weights from files we did not make, without running their code.

Pickle-based files (``.pt``, ``.bin``, ``.pth``) can execute arbitrary code when unpickled, so they
are read with ``torch.load(weights_only=True)``; a file that needs more is refused unless the
user explicitly trusts it. We never retry with ``weights_only=False`` after an error: the error
message is the attacker's to shape. ``.safetensors`` holds only tensors. OpenAI's TorchScript
archives are read with ``torch.jit.load`` (no Python unpickling of arbitrary globals), as
open_clip does, and only their state dict is kept.
"""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

from cleanerclip_tool.errors import BadInputError, UnsafeCheckpointError

MIN_SAFE_TORCH = (2, 6)  # weights_only bypass before 2.6: CVE-2025-32434
# Keys OpenAI's TorchScript state dicts carry that are not parameters of open_clip's CLIP.
OPENAI_NON_PARAM_KEYS = ("input_resolution", "context_length", "vocab_size")


def _torch_version() -> tuple[int, int]:
    import torch

    major, minor = torch.__version__.split("+")[0].split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def is_torchscript_archive(path: Path) -> bool:
    """A TorchScript zip has ``<name>/code/`` or ``<name>/constants.pkl``; a plain torch.save zip has neither."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.split("/", 1)[-1].startswith("code/") or n.endswith("/constants.pkl") for n in names)


def read_weights(path: str | Path, *, trust_checkpoint: bool = False) -> tuple[dict[str, Any], str]:
    """Return ``(state_dict, format)`` for a weights file; format is safetensors, pickle or torchscript.

    The state dict is unwrapped from ``{"state_dict": ...}`` (CleanCLIP / open_clip_train
    checkpoints) and ``module.`` is stripped only when every key has it (DDP checkpoints).
    """
    path = Path(path)
    if not path.is_file():
        raise BadInputError("model file not found", where=path)
    if path.suffix == ".safetensors":
        raw, fmt = _read_safetensors(path), "safetensors"
    elif is_torchscript_archive(path):
        raw, fmt = _read_torchscript(path), "torchscript"
    else:
        raw, fmt = _read_pickle(path, trust_checkpoint=trust_checkpoint), "pickle"
    return normalise_state_dict(raw, where=path), fmt


def _read_safetensors(path: Path) -> dict[str, Any]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise BadInputError(f"not a readable safetensors file ({_short(exc)})", where=path) from None


def _read_torchscript(path: Path) -> dict[str, Any]:
    import warnings

    import torch

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # "torch.jit.load is deprecated": not the user's concern
            module = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, OSError, ValueError) as exc:
        raise BadInputError(f"not a readable TorchScript archive ({_short(exc)})", where=path) from None
    return {k: v for k, v in module.state_dict().items() if k not in OPENAI_NON_PARAM_KEYS}


def _read_pickle(path: Path, *, trust_checkpoint: bool) -> Any:
    import torch

    if _torch_version() < MIN_SAFE_TORCH:
        raise BadInputError(
            f"refusing to read a pickle-based checkpoint with torch {torch.__version__}: "
            "weights_only loading can be bypassed before torch 2.6 (CVE-2025-32434)",
            where=path,
            hint="upgrade torch, or convert the file to .safetensors on a trusted machine",
        )
    try:
        with warnings.catch_warnings():
            # "Detected pickle protocol N" from the weights-only unpickler: noise next to our own verdict.
            warnings.filterwarnings("ignore", message="Detected pickle protocol", category=UserWarning)
            return torch.load(str(path), map_location="cpu", weights_only=not trust_checkpoint)
    except pickle.UnpicklingError as exc:
        if not trust_checkpoint and "weights only load failed" in str(exc).lower():
            raise UnsafeCheckpointError(
                "checkpoint needs arbitrary unpickling, which can run code on this machine; refused",
                where=path,
                hint="if you trust its author, pass --trust-checkpoint; better, ask for a .safetensors file",
            ) from None
        raise BadInputError(f"corrupt or truncated checkpoint ({_short(exc)})", where=path) from None
    except (RuntimeError, EOFError, OSError, ValueError, KeyError, AttributeError, ImportError) as exc:
        # PyTorch raises RuntimeError (not UnpicklingError) for truncated or corrupt zip archives.
        raise BadInputError(f"corrupt or truncated checkpoint ({_short(exc)})", where=path) from None


def normalise_state_dict(raw: Any, *, where: Path | str) -> dict[str, Any]:
    import torch

    if isinstance(raw, torch.nn.Module):  # only reachable with --trust-checkpoint (a pickled module)
        raw = raw.state_dict()
    if isinstance(raw, dict) and "state_dict" in raw and isinstance(raw["state_dict"], dict):
        raw = raw["state_dict"]
    if not isinstance(raw, dict) or not raw:
        raise BadInputError("file holds no state dict (expected a mapping of parameter names to tensors)", where=where)
    not_tensors = [k for k, v in raw.items() if not isinstance(v, torch.Tensor)]
    if not_tensors:
        raise BadInputError(f"state dict has non-tensor entries: {', '.join(map(str, not_tensors[:5]))}", where=where)
    keys = list(raw)
    if all(isinstance(k, str) and k.startswith("module.") for k in keys):
        raw = {k[len("module.") :]: v for k, v in raw.items()}
    return dict(raw)


def _short(exc: BaseException, limit: int = 160) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "…"
