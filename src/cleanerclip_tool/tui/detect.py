"""The Scan pane's Detect action: trigger inversion on the original (and purified) model.

The same calls as ``cleanerclip detect`` (``app.detect``); the pane runs ``detect_models`` in a worker
thread and shows :func:`detect_summary` of the :class:`DetectDone` it posts.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class DetectDone(Message):
    def __init__(self, reports: dict[str, dict[str, Any]]) -> None:
        super().__init__()
        self.reports = reports


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
