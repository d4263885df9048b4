"""A PNG contact sheet of toy-world pairs, so a person can see what the model is trained on."""

from __future__ import annotations

import textwrap
from pathlib import Path

from PIL import Image


def save_preview(pairs: list[tuple[Image.Image, str]], out: str | Path, *, columns: int = 6) -> Path:
    """Write ``pairs`` as a grid: each image enlarged (nearest neighbour, pixels kept) over its caption."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    columns = max(1, min(columns, len(pairs)))
    rows = max(1, -(-len(pairs) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.2 * columns, 2.75 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (image, caption) in zip(axes.ravel(), pairs, strict=False):
        ax.imshow(image.resize((image.width * 4, image.height * 4), Image.Resampling.NEAREST))
        ax.set_title("\n".join(textwrap.wrap(caption, 24)), fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
