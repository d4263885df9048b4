"""Top-k benign accuracy (BA), attack success rate (ASR) and target discovery.

Definitions [paper §4.1, CleanCLIP's evaluate.py]: a hit at k means the label is among the k
highest logits. BA@k counts hits of the true class on clean images. ASR@k counts hits of the
*target* class on triggered images. Two conventions exist for which triggered images count:

* ``exclude`` (default; CleanCLIP's linear-probe code, the usual definition): images whose true
  class is the target are left out, since predicting their own class is no attack success;
* ``include`` (BadCLIP's code): every triggered image is relabelled to the target.

Everything here works on the top-k predicted class indices (``[N, maxk]``, best first), which the
scan keeps per image, so ASR toward any candidate target can be computed after the pass.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

ASR_CONVENTIONS = ("exclude", "include")


def topk_indices(logits: np.ndarray, maxk: int) -> np.ndarray:
    """The ``maxk`` best class indices per row, best first (ties: the lower index first)."""
    logits = np.asarray(logits)
    maxk = min(maxk, logits.shape[1])
    order = np.argsort(-logits, axis=1, kind="stable")
    return order[:, :maxk]


def topk_hit_rates(
    topk: np.ndarray, labels: np.ndarray, ks: Sequence[int], num_classes: int | None = None
) -> dict[int, float | None]:
    """Fraction of rows whose label is among the first k predictions, for each k.

    A rate that does not exist is None (JSON null), never NaN or a trivial 1.0: no rows (an empty
    ASR set), or k larger than ``num_classes`` (a 2-class set has no Top-10).
    """
    labels = np.asarray(labels)
    hits = topk == labels[:, None]
    return {
        int(k): None
        if len(labels) == 0 or (num_classes is not None and k > num_classes)
        else float(hits[:, :k].any(axis=1).mean())
        for k in ks
    }


def benign_accuracy(
    topk: np.ndarray, labels: np.ndarray, ks: Sequence[int], num_classes: int | None = None
) -> dict[int, float | None]:
    """Top-k BA: hits of the true class on clean images (None where ``topk_hit_rates`` says)."""
    return topk_hit_rates(topk, labels, ks, num_classes)


def asr_mask(labels: np.ndarray, target: int, convention: str = "exclude") -> np.ndarray:
    """Which triggered images count toward ASR under ``convention``."""
    if convention not in ASR_CONVENTIONS:
        raise ValueError(f"unknown ASR convention {convention!r}")
    labels = np.asarray(labels)
    return labels != target if convention == "exclude" else np.ones(len(labels), dtype=bool)


def attack_success_rate(
    topk: np.ndarray,
    labels: np.ndarray,
    target: int,
    ks: Sequence[int],
    convention: str = "exclude",
    num_classes: int | None = None,
) -> tuple[dict[int, float | None], int]:
    """(Top-k ASR toward ``target``, number of triggered images counted); None where undefined."""
    mask = asr_mask(labels, target, convention)
    rates = topk_hit_rates(topk[mask], np.full(int(mask.sum()), target), ks, num_classes)
    return rates, int(mask.sum())


@dataclass(frozen=True)
class Discovery:
    """Where the trigger pulls: the class whose Top-1 share grows most."""

    target: int
    share: float  # Top-1 share of that class on triggered images (all of them)
    clean_share: float  # its Top-1 share on clean images
    growth: float  # share - clean_share


def discover_target(clean_top1: np.ndarray, triggered_top1: np.ndarray, num_classes: int) -> Discovery:
    """Compare Top-1 prediction shares with and without the trigger; pick the largest growth.

    Shares, not counts, so clean and triggered sets of different sizes compare. Ties go to the
    lower class index, so the answer is deterministic.
    """
    clean = np.bincount(np.asarray(clean_top1), minlength=num_classes) / max(len(clean_top1), 1)
    trig = np.bincount(np.asarray(triggered_top1), minlength=num_classes) / max(len(triggered_top1), 1)
    growth = trig - clean
    best = int(np.argmax(growth))
    return Discovery(best, float(trig[best]), float(clean[best]), float(growth[best]))
