"""open_clip logs through the root logger (e.g. "No pretrained weights loaded … initialized randomly"
every time we build a model whose weights we load ourselves, or an ERROR line before raising a
download failure that we turn into our own one-line error); silence it around our calls."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator


@contextlib.contextmanager
def quiet_open_clip() -> Iterator[None]:
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(previous)
