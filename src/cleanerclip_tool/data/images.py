"""Decoding untrusted images fully and safely.

``Image.verify()`` passes a truncated JPEG; only a full decode catches it, so we always ``load()``.
Pillow's decompression-bomb limit stays on (we never set ``LOAD_TRUNCATED_IMAGES``), and every
mode (CMYK, palette, alpha, 16-bit) is converted to 8-bit RGB the way CLIP preprocessing expects.
"""

from __future__ import annotations

import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from cleanerclip_tool.errors import DataError


def open_rgb(path: str | Path) -> Image.Image:
    """Open, fully decode and convert to RGB; any failure is a ``DataError`` naming the file."""
    path = Path(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                img.load()
                return to_rgb(img)
    except FileNotFoundError:
        raise DataError("image file not found", where=path) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DataError(f"image too large (decompression bomb guard): {exc}", where=path) from None
    except UnidentifiedImageError:
        raise DataError("not an image Pillow can read", where=path) from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"corrupt or truncated image: {exc}", where=path) from None


def to_rgb(img: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; alpha is composited on white."""
    if img.mode == "RGB":
        return img.copy()
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        import numpy as np

        arr = np.asarray(img, dtype=np.float64)
        hi = float(arr.max()) or 1.0
        arr = (arr / (65535.0 if hi > 255 else 255.0) * 255.0).clip(0, 255).astype("uint8")
        return Image.fromarray(arr, mode="L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")
