"""Top-k BA / ASR and target discovery on hand-written logits, checked against hand counts."""

from __future__ import annotations

import numpy as np
import pytest

from cleanerclip_tool.eval.metrics import (
    attack_success_rate,
    benign_accuracy,
    discover_target,
    topk_indices,
)

# 4 classes, 5 images. Rankings (best first) written out beside each row.
CLEAN_LOGITS = np.array(
    [
        [0.9, 0.1, 0.3, 0.2],  # 0 2 3 1   label 0 -> top1 hit
        [0.2, 0.5, 0.6, 0.1],  # 2 1 0 3   label 1 -> top1 miss, top2 hit
        [0.1, 0.2, 0.3, 0.4],  # 3 2 1 0   label 0 -> hit only at k=4
        [0.3, 0.2, 0.9, 0.0],  # 2 0 1 3   label 2 -> top1 hit
        [0.5, 0.4, 0.2, 0.6],  # 3 0 1 2   label 1 -> top3 hit
    ]
)
LABELS = np.array([0, 1, 0, 2, 1])


def test_topk_indices_rank_best_first() -> None:
    assert topk_indices(CLEAN_LOGITS, 3).tolist() == [[0, 2, 3], [2, 1, 0], [3, 2, 1], [2, 0, 1], [3, 0, 1]]


def test_benign_accuracy_by_hand() -> None:
    top = topk_indices(CLEAN_LOGITS, 4)
    assert benign_accuracy(top, LABELS, [1, 2, 3, 4, 10]) == {1: 2 / 5, 2: 3 / 5, 3: 4 / 5, 4: 1.0, 10: 1.0}
    # k above the number of classes (4) is no rate at all: null in JSON, not a trivial 100%
    assert benign_accuracy(top, LABELS, [4, 10], num_classes=4) == {4: 1.0, 10: None}
    assert attack_success_rate(top, np.zeros(5, dtype=int), 0, [1], "exclude")[0] == {1: None}  # empty set


def test_asr_excludes_target_class_images_by_default() -> None:
    # triggered rankings; target = class 3
    trig = np.array(
        [
            [3, 0, 1, 2],  # label 0: top1 hit
            [1, 3, 0, 2],  # label 1: top2 hit
            [0, 1, 2, 3],  # label 0: hit only at 4
            [3, 2, 1, 0],  # label 3: left out under "exclude"
            [2, 1, 3, 0],  # label 1: top3 hit
        ]
    )
    labels = np.array([0, 1, 0, 3, 1])
    rates, n = attack_success_rate(trig, labels, 3, [1, 2, 3], "exclude")
    assert n == 4 and rates == {1: 1 / 4, 2: 2 / 4, 3: 3 / 4}
    rates, n = attack_success_rate(trig, labels, 3, [1, 2, 3], "include")
    assert n == 5 and rates == {1: 2 / 5, 2: 3 / 5, 3: 4 / 5}
    with pytest.raises(ValueError):
        attack_success_rate(trig, labels, 3, [1], "bogus")


def test_discover_target_picks_the_largest_share_growth() -> None:
    # clean top-1: class 0 is already common; the trigger moves predictions to class 2
    clean_top1 = np.array([0, 0, 0, 1, 2, 3, 0, 1])  # shares: 0 .5, 1 .25, 2 .125, 3 .125
    trig_top1 = np.array([0, 0, 2, 2, 2, 2, 0, 1])  # shares: 0 .375, 1 .125, 2 .5, 3 0
    found = discover_target(clean_top1, trig_top1, 4)
    assert found.target == 2
    assert found.share == 0.5 and found.clean_share == 0.125 and found.growth == 0.375
    # growth, not share: class 0 grows from 3/4 to 4/4, class 1 shrinks
    assert discover_target(np.array([0, 0, 0, 1]), np.array([0, 0, 0, 0]), 2).target == 0
    assert discover_target(np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1]), 2).growth == 0.0
