"""Machine and version lines every benchmark prints above its table."""

from __future__ import annotations

import os
import platform


def machine_lines() -> list[str]:
    import torch

    lines = [
        f"machine: {platform.machine()} {platform.processor() or ''} cores={os.cpu_count()}".strip(),
        f"python {platform.python_version()}  torch {torch.__version__}  threads={torch.get_num_threads()}",
    ]
    try:
        import open_clip

        lines[-1] += f"  open_clip {open_clip.__version__}"
    except ImportError:
        pass
    if torch.cuda.is_available():
        lines.append(f"gpu: {torch.cuda.get_device_name(0)}")
    return lines
