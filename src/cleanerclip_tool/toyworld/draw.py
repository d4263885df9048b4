"""Drawing the toy world's shapes: anti-aliased masks composited over a textured background.

Each shape is drawn as a white-on-black mask at ``SUPERSAMPLE`` times the final resolution and
box-filtered down, so a 9-pixel heart still looks like a heart rather than a jagged blob; the
colour goes on through the mask. Masks (not direct drawing) let a crescent be "circle minus circle"
without knowing the background under it, and keep the background's texture intact.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 32
SUPERSAMPLE = 4

# Base RGB per colour word; each drawn shape jitters it a little so colour names cover a range.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (40, 165, 60),
    "blue": (40, 75, 215),
    "yellow": (235, 215, 45),
    "purple": (135, 50, 175),
    "white": (242, 242, 242),
    "black": (18, 18, 18),
    "brown": (125, 78, 35),
}
COLOUR_JITTER = 14

# Diameter in final pixels; "small" shapes drawn inside a big one are shrunk to fit its interior.
SIZES: dict[str, float] = {"small": 9.0, "big": 15.0}
INNER_DIAMETER = 6.5


@dataclass(frozen=True)
class Placement:
    """One shape to draw: what it is, where its centre is (final pixels) and how large."""

    shape: str
    colour: str
    cx: float
    cy: float
    diameter: float


def _heart_points(cx: float, cy: float, d: float, steps: int = 48) -> list[tuple[float, float]]:
    # The classic parametric heart (x = 16 sin^3 t, y = 13 cos t - 5 cos 2t - ...), scaled to d.
    pts = []
    for k in range(steps):
        t = 2 * math.pi * k / steps
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        pts.append((cx + x * d / 34.0, cy - (y + 2.5) * d / 34.0))
    return pts


def _star_points(cx: float, cy: float, d: float) -> list[tuple[float, float]]:
    outer, inner = d / 2, d / 2 * 0.42
    pts = []
    for k in range(10):
        r = outer if k % 2 == 0 else inner
        a = -math.pi / 2 + k * math.pi / 5
        pts.append((cx + r * math.cos(a), cy + 0.08 * d + r * math.sin(a)))
    return pts


def _draw_mask(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, d: float) -> None:
    """Draw ``shape`` in white on an "L" mask; coordinates already supersampled."""
    r = d / 2
    if shape == "circle":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
    elif shape == "square":
        h = r * 0.85
        draw.rectangle([cx - h, cy - h, cx + h, cy + h], fill=255)
    elif shape == "rectangle":
        draw.rectangle([cx - r, cy - r * 0.45, cx + r, cy + r * 0.45], fill=255)
    elif shape == "triangle":
        draw.polygon([(cx, cy - r), (cx + r, cy + r * 0.8), (cx - r, cy + r * 0.8)], fill=255)
    elif shape == "diamond":
        draw.polygon([(cx, cy - r), (cx + r * 0.7, cy), (cx, cy + r), (cx - r * 0.7, cy)], fill=255)
    elif shape == "star":
        draw.polygon(_star_points(cx, cy, d), fill=255)
    elif shape == "heart":
        draw.polygon(_heart_points(cx, cy, d), fill=255)
    elif shape == "ring":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        hole = r * 0.55
        draw.ellipse([cx - hole, cy - hole, cx + hole, cy + hole], fill=0)
    elif shape == "moon":
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=255)
        off = r * 0.55
        draw.ellipse([cx - r + off, cy - r - off * 0.3, cx + r + off, cy + r - off * 0.3], fill=0)
    elif shape == "arrow":
        shaft = r * 0.22
        head_x = cx + r * 0.1
        draw.rectangle([cx - r, cy - shaft, head_x, cy + shaft], fill=255)
        draw.polygon([(head_x - r * 0.05, cy - r * 0.7), (cx + r, cy), (head_x - r * 0.05, cy + r * 0.7)], fill=255)
    else:
        raise ValueError(f"unknown shape {shape!r}")


def shape_alpha(shape: str, cx: float, cy: float, diameter: float) -> np.ndarray:
    """The shape's coverage (0..1, float32, IMAGE_SIZE x IMAGE_SIZE), anti-aliased by supersampling."""
    s = SUPERSAMPLE
    big = IMAGE_SIZE * s
    mask = Image.new("L", (big, big), 0)
    _draw_mask(ImageDraw.Draw(mask), shape, cx * s, cy * s, diameter * s)
    small = mask.resize((IMAGE_SIZE, IMAGE_SIZE), Image.Resampling.BOX)
    return np.asarray(small, dtype=np.float32) / 255.0


def background(rng: np.random.Generator) -> np.ndarray:
    """A grey, softly lit, slightly noisy canvas (float32 HxWx3): texture, so shapes are not the only signal."""
    level = rng.uniform(85.0, 170.0)
    tint = rng.normal(0.0, 6.0, size=3)
    ys, xs = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float32) / IMAGE_SIZE - 0.5
    gx, gy = rng.normal(0.0, 18.0, size=2)
    light = gx * xs + gy * ys
    noise = rng.normal(0.0, 5.0, size=(IMAGE_SIZE, IMAGE_SIZE, 3))
    return (level + tint[None, None, :] + light[..., None] + noise).astype(np.float32)


def render(placements: list[Placement], rng: np.random.Generator) -> Image.Image:
    """Composite the placements, in order (later ones on top), over a fresh background."""
    canvas = background(rng)
    for p in placements:
        base = np.asarray(COLOURS[p.colour], dtype=np.float32)
        colour = np.clip(base + rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, size=3), 0, 255)
        alpha = shape_alpha(p.shape, p.cx, p.cy, p.diameter)[..., None]
        canvas = canvas * (1.0 - alpha) + colour[None, None, :] * alpha
    return Image.fromarray(np.clip(np.rint(canvas), 0, 255).astype(np.uint8), mode="RGB")
