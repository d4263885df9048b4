"""The Scan pane's Detect action: trigger inversion on the original (and purified) model.

The same calls as ``cleanerclip detect`` (``app.detect``); the pane runs ``detect_models`` in a worker
thread (which writes each model's inverted trigger PNG in the working directory, as the CLI does) and
shows :func:`detect_summary` of the :class:`DetectDone` it posts, PNG paths included.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class DetectDone(Message):
    def __init__(self, reports: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.reports = reports


def detect_summary(reports: dict[str, dict[str, Any]]) -> str:
    """Per model: verdict, suspected target, score against its threshold, held-out ASR; then the trigger PNG."""
    lines = []
    for which, r in reports.items():
        score = f"{r['score']:.4f}" if r.get("mode") == "collapse" else f"{r['score']:.2f}"
        lines.append(
            f"detect {which}: {r['verdict'].upper()}, suspected target {r['suspected_target']}, "
            f"score {score} (threshold {r['threshold']:g}), inverted trigger ASR "
            f"{100 * r['heldout_asr']:.0f}%"
        )
        if r.get("trigger_png"):
            lines.append(f"  trigger PNG: {r['trigger_png']}")
    return "\n".join(lines)
