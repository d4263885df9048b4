"""A tiny caption data set drawn on the fly, and a LoadedModel for the tiny test model."""

from __future__ import annotations

import random
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = {"red": (220, 40, 40), "blue": (40, 60, 220), "green": (40, 180, 60), "yellow": (230, 210, 40)}
SHAPES = ("square", "circle", "triangle")
RELATIONS = ("above", "below", "left of", "right of")


def draw_caption_set(folder: Path, n: int = 64, seed: int = 0) -> Path:
    """``n`` 32x32 PNGs of two coloured shapes with captions like "a red square above a blue circle"."""
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "img").mkdir(exist_ok=True)
    lines = ["filepath,title"]
    for i in range(n):
        c1, c2 = rng.sample(list(COLOURS), 2)
        s1, s2 = rng.choice(SHAPES), rng.choice(SHAPES)
        rel = rng.choice(RELATIONS)
        img = Image.new("RGB", (32, 32), (255, 255, 255))
        d = ImageDraw.Draw(img)
        a = {"above": (10, 2), "below": (10, 18), "left of": (2, 10), "right of": (18, 10)}[rel]
        b = (20 - a[0] + 2, 20 - a[1] + 2)
        for (x, y), c, s in ((a, c1, s1), (b, c2, s2)):
            box = (x, y, x + 11, y + 11)
            if s == "circle":
                d.ellipse(box, fill=COLOURS[c])
            elif s == "triangle":
                d.polygon([(x, y + 11), (x + 11, y + 11), (x + 5, y)], fill=COLOURS[c])
            else:
                d.rectangle(box, fill=COLOURS[c])
        img.save(folder / "img" / f"{i:03d}.png")
        lines.append(f'img/{i:03d}.png,"a {c1} {s1} {rel} a {c2} {s2}"')
    (folder / "captions.csv").write_text("\n".join(lines) + "\n")
    return folder


def tiny_loaded(seed: int = 0):
    from tiny import make_tiny_model, tiny_cfg

    from cleanerclip_tool.models.load import build_loaded_model

    return build_loaded_model(tiny_cfg(), make_tiny_model(seed), source="tiny", kind="custom")
