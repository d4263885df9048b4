"""The Scan pane's Detect action: trigger inversion on the original (and purified) model.

The same library calls as ``cleanerclip detect``; the pane runs :func:`detect_models` in a worker
thread and shows :func:`detect_summary` of the :class:`DetectDone` it posts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from textual.message import Message


class DetectDone(Message):
    def __init__(self, reports: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.reports = reports


def detect_models(
    models: dict[str, str],
    eval_path: str | None,
    emit: Callable[[Any], None],
    stop: threading.Event | None = None,
) -> dict[str, dict[str, Any]]:
    """``{"before": spec, "after": dir}`` -> the detect report of each (no PNG written)."""
    from cleanerclip_tool.errors import BadInputError
    from cleanerclip_tool.eval.detect import detect, load_detect_images
    from cleanerclip_tool.models.load import load_model
    from cleanerclip_tool.toyworld.registry import is_toy_model

    reports: dict[str, dict[str, Any]] = {}
    for which, spec in models.items():
        loaded = load_model(spec, on_event=emit)
        path = eval_path
        if path is None:
            if not is_toy_model(loaded.card):
                raise BadInputError("eval data is required for non-toy models", where="eval data")
            from cleanerclip_tool.toyworld import default_world

            path = str(default_world(on_event=emit).test)
        images = load_detect_images(path, loaded.preprocess, on_event=emit)
        reports[which] = detect(loaded, images, stop=stop, on_event=emit).to_dict()
        if stop is not None and stop.is_set():
            break
    return reports


def detect_summary(reports: dict[str, dict[str, Any]]) -> str:
    """One line per model: verdict, suspected target, score against its threshold, held-out ASR."""
    lines = []
    for which, r in reports.items():
        lines.append(
            f"detect {which}: {r['verdict'].upper()}, suspected target {r['suspected_target']}, "
            f"score {r['score']:.2f} (threshold {r['threshold']:g}), inverted trigger ASR "
            f"{100 * r['heldout_asr']:.0f}%"
        )
    return "\n".join(lines)
