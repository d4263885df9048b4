"""The tiny open_clip architecture of the toy world, registered with open_clip by name.

``cleanerclip-toy`` is a miniature of the paper's RN50: open_clip's ``ModifiedResNet`` (three-conv
stem, one bottleneck block per stage, attention pooling) at width 16 on 32x32 images, and a 2-layer
text transformer of width 64, context 16 (the longest toy caption is 11 tokens with its start/end
tokens). Why a ResNet and not a ViT: with the same data and schedule (10k pairs, 10 epochs) a
3-layer ViT with 8-pixel patches never learnt the shapes (zero-shot accuracy 13%, chance 10%), this
ResNet reaches ~96%: convolutions see a 9-pixel heart as a shape, 8-pixel patches cut it in pieces.

Tokenizer trade-off: we keep open_clip's ``SimpleTokenizer`` and its full 49,408-token vocabulary
so the model is a plain open_clip model (``open_clip.get_tokenizer("cleanerclip-toy")`` works
offline, the BPE file ships with open_clip, and every loader and tool treats it like any CLIP). The
price is the token embedding: 49,408 x 64 = 3.2M of the model's ~3.6M parameters (also most of
the optimizer's work per step), although the
world uses ~30 tokens. A reduced vocabulary would make the model ~10x smaller but would need a
tokenizer of our own that no other open_clip tool knows.

The JSON file next to this module is the single definition; ``toy_model_cfg()`` returns a copy.
"""

from __future__ import annotations

import copy
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

TOY_MODEL_NAME = "cleanerclip-toy"
CONFIG_FILE = Path(__file__).with_name(f"{TOY_MODEL_NAME}.json")


@lru_cache(maxsize=1)
def _load_cfg() -> dict[str, Any]:
    return json.loads(CONFIG_FILE.read_text(encoding="utf-8"))


def toy_model_cfg() -> dict[str, Any]:
    """The open_clip model config (``embed_dim``, ``vision_cfg``, ``text_cfg``) of ``cleanerclip-toy``."""
    return copy.deepcopy(_load_cfg())


def context_length() -> int:
    return int(_load_cfg()["text_cfg"]["context_length"])


def register_toy_config() -> str:
    """Make ``cleanerclip-toy`` known to ``open_clip.create_model`` / ``get_tokenizer``; idempotent.

    open_clip's ``add_model_config`` takes a path (file or folder) and rescans; the config name is
    the file's stem, hence the file name.
    """
    import open_clip

    if TOY_MODEL_NAME not in open_clip.list_models():
        open_clip.add_model_config(CONFIG_FILE)
    return TOY_MODEL_NAME


def create_toy_model(seed: int = 0):
    """A freshly initialised ``cleanerclip-toy`` CLIP (seeded)."""
    import open_clip
    import torch

    # Built from the config directly: open_clip.create_model(TOY_MODEL_NAME) gives the same model
    # but logs a "no pretrained weights" warning on every call.
    torch.manual_seed(seed)
    return open_clip.CLIP(**toy_model_cfg())


def toy_tokenizer():
    """open_clip's ``SimpleTokenizer`` with the toy context length; needs no network."""
    import open_clip

    register_toy_config()
    return open_clip.get_tokenizer(TOY_MODEL_NAME)
