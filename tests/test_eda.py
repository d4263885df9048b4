"""CleanCLIP's EDA caption augmentation (one operation per caption)."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from cleanerclip_tool.augment import eda
from cleanerclip_tool.augment.eda import EDA_OPERATIONS, clean_text, eda_augment, synonym_source
from cleanerclip_tool.augment.wordbanks import load_wordbanks

CAPTION = "A big dog is running on the beach with a small boy, near the old house."


def test_cleaning_matches_eda() -> None:
    assert clean_text("A Dog's toy-box: 3 balls!") == "a dogs toy box balls"


def test_synonym_source_is_reported() -> None:
    source = synonym_source()
    if eda._wordnet() is None:
        assert source.startswith("shipped:") and source.endswith("synonyms.txt")
    else:
        assert source == "wordnet"


def test_swap_keeps_the_words() -> None:
    out = eda_augment(CAPTION, random.Random(0), operation="swap")
    assert sorted(out.split()) == sorted(clean_text(CAPTION).split()) and out != clean_text(CAPTION)


def test_deletion_removes_words_in_order() -> None:
    words = clean_text(CAPTION).split()
    out = eda_augment(CAPTION, random.Random(3), alpha=0.3, operation="deletion").split()
    assert 0 < len(out) < len(words)
    it = iter(words)
    assert all(w in it for w in out)  # a subsequence
    assert eda_augment("dog", random.Random(0), operation="deletion") == "dog"


@pytest.mark.skipif(eda._wordnet() is not None, reason="checks the shipped synonym list")
def test_synonym_replacement_uses_listed_synonyms() -> None:
    banks = load_wordbanks()
    out = eda_augment("a big dog", random.Random(0), operation="synonym").split()
    assert out[0] == "a" and (out[1] in banks.related("big") or out[2] in banks.related("dog"))
    assert out != ["a", "big", "dog"]


def test_insertion_adds_a_synonym() -> None:
    words = clean_text(CAPTION).split()
    out = eda_augment(CAPTION, random.Random(1), operation="insertion").split()
    assert len(out) == len(words) + max(1, int(0.1 * len(words)))


def test_one_random_operation_and_determinism() -> None:
    seen = Counter()
    for seed in range(40):
        a = eda_augment(CAPTION, random.Random(seed))
        assert a == eda_augment(CAPTION, random.Random(seed))
        seen[len(a.split()) - len(clean_text(CAPTION).split())] += 1
    assert len(seen) >= 2  # insertions (+n), deletions (-k) and same-length ops all occur
    assert eda_augment("", random.Random(0)) == ""
    with pytest.raises(ValueError):
        eda_augment(CAPTION, random.Random(0), operation="paraphrase")
    assert set(EDA_OPERATIONS) == {"synonym", "insertion", "swap", "deletion"}
