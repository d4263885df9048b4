"""The one place a ``--device`` value becomes a torch device name.

It sits below every layer (eval, engine, attacks, the application layer) so that a scan, a trigger
optimisation and a training run all read ``auto``, ``cpu``, ``cuda`` and ``cuda:N`` the same way
and refuse the same bad values with the same message. torch is imported inside the function so
that importing this module (the CLI's ``--help`` does, indirectly) stays cheap.
"""

from __future__ import annotations

import re

from cleanerclip_tool.errors import BadInputError

#: What ``--device`` accepts (``config.PurifyConfig`` validates the same set).
DEVICE_PATTERN = re.compile(r"auto|cpu|cuda(:\d+)?")


def resolve_device(name: str, local_rank: int | None = None) -> str:
    """``auto`` → ``cuda`` when available, else ``cpu``; anything but cpu / cuda / cuda:N is bad input.

    ``local_rank`` is for a distributed run: a bare ``cuda`` (given or chosen by ``auto``) then means
    this process's own GPU, ``cuda:<local_rank>``, so that ranks on one machine do not all train on
    GPU 0. An explicit ``cuda:N`` is kept as given. The result is a string ``torch.device`` accepts.
    """
    if not DEVICE_PATTERN.fullmatch(name):
        raise BadInputError(f"unknown device {name!r} (use auto, cpu, cuda or cuda:N)", where="--device")
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise BadInputError("CUDA is not available on this machine", where="--device")
    if name == "cuda" and local_rank is not None:
        return f"cuda:{local_rank}"
    return name


__all__ = ["DEVICE_PATTERN", "resolve_device"]


def set_threads(threads: int | None) -> None:
    """``--threads N``: torch's CPU threads for this process (None: torch's own choice)."""
    if threads is None:
        return
    if threads < 1:
        raise BadInputError(f"threads must be >= 1 (got {threads})", where="--threads")
    import torch

    torch.set_num_threads(threads)
