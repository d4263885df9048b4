"""The shipped word banks: size, order, no duplicates, no blocklisted terms, the toy world's words."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import pytest

from cleanerclip_tool.augment.wordbanks import BANK_FILES, load_wordbanks, read_terms
from cleanerclip_tool.errors import BadInputError
from cleanerclip_tool.resources import wordbanks_dir

REPO = Path(__file__).resolve().parents[1]


def _script():
    spec = importlib.util.spec_from_file_location("build_wordbanks", REPO / "scripts" / "build_wordbanks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", BANK_FILES)
def test_bank_size_header_and_no_duplicates(name: str) -> None:
    path = wordbanks_dir() / f"{name}.txt"
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("#") and any("build_wordbanks.py" in line for line in lines if line.startswith("#"))
    terms = [line for line in lines if line and not line.startswith("#")]
    assert 2500 <= len(terms) <= 3000
    assert len(terms) == len(set(terms)) == len(read_terms(path))
    assert all(t == t.strip().lower() for t in terms)


@pytest.mark.parametrize("name", BANK_FILES)
def test_no_blocklisted_term(name: str) -> None:
    script = _script()
    terms = read_terms(wordbanks_dir() / f"{name}.txt")
    assert not {w for t in terms for w in t.split()} & script.BLOCKLIST
    assert not [t for t in terms if script.is_offensive(t)]


def test_offensive_filter_catches_stems_but_not_innocent_words() -> None:
    is_offensive = _script().is_offensive
    assert all(map(is_offensive, ["motherfucker", "bullshitting", "bitchy", "crappy", "homo", "wanking"]))
    assert not any(map(is_offensive, ["therapist", "scrap", "homogeneous", "cocktail", "glass", "grape"]))


def test_no_names_or_gerund_nouns_from_the_stoplists() -> None:
    script = _script()
    nouns = set(read_terms(wordbanks_dir() / "nouns.txt"))
    adjectives = set(read_terms(wordbanks_dir() / "adjectives.txt"))
    assert not nouns & script.NAMES and not adjectives & (script.NAMES - set(script.COLOURS))
    assert {"thinking", "meaning", "feeling"}.isdisjoint(nouns)
    verbs = set(load_wordbanks().verbs)
    assert not verbs & script.NOT_PICTURED
    assert not {v for v, phrase in script.INTRANSITIVE.items() if not phrase} & verbs


@pytest.mark.parametrize("name", BANK_FILES)
def test_ordered_common_to_rare_after_the_curated_head(name: str) -> None:
    wordfreq = pytest.importorskip("wordfreq")
    terms = [t for t in read_terms(wordbanks_dir() / f"{name}.txt") if " " not in t]
    tail = terms[200:]
    freqs = [wordfreq.zipf_frequency(t, "en") for t in tail]
    first, last = freqs[: len(freqs) // 4], freqs[-len(freqs) // 4 :]
    assert sum(first) / len(first) > sum(last) / len(last) + 0.5
    # wordfreq's own rank order, apart from ties in its bins, is kept
    inversions = sum(1 for a, b in itertools.pairwise(freqs) if b > a + 0.25)
    assert inversions < len(freqs) * 0.02


def test_toy_world_vocabulary_is_in_the_banks() -> None:
    banks = load_wordbanks()
    for colour in ("red", "green", "blue", "yellow", "purple", "orange", "white", "black", "gray"):
        assert colour in banks.adjectives
    assert {"small", "big"} <= set(banks.adjectives)
    for shape in (
        "circle",
        "square",
        "triangle",
        "diamond",
        "heart",
        "star",
        "cross",
        "ring",
        "hexagon",
        "ellipse",
        "pentagon",
    ):
        assert shape in banks.nouns
    for rel in ("above", "below", "left of", "right of", "to the left of", "to the right of", "next to"):
        assert rel in banks.prepositions
    assert len(banks.verbs) > 1000 and all(v.split()[0].endswith("ing") for v in banks.verbs)


def test_synonym_groups_are_symmetric() -> None:
    banks = load_wordbanks()
    assert "large" in banks.related("big") and "big" in banks.related("large")
    assert "beside" in banks.related("next to")


def test_custom_folder_must_hold_all_banks(tmp_path: Path) -> None:
    (tmp_path / "nouns.txt").write_text("cat\n")
    with pytest.raises(BadInputError, match="adjectives.txt"):
        load_wordbanks(str(tmp_path))
    with pytest.raises(BadInputError, match="not found"):
        load_wordbanks(str(tmp_path / "nope"))
