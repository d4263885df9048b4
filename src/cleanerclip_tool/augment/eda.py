"""CleanCLIP's text augmentation for the in-modal loss: one EDA operation per caption.

EDA (Wei & Zou, 2019) as CleanCLIP's ``utils/eda.py`` applies it with ``num_aug=1``: the caption
is cleaned (lowercase letters and spaces only), one of synonym replacement, random insertion, random
swap or random deletion is applied with strength ``alpha`` (``n = max(1, int(alpha * words))``
words; deletion drops each word with probability ``alpha``), and that one augmented sentence is
used. Synonyms come from NLTK's WordNet when its data is installed, else from the shipped
``synonyms.txt`` groups (WordNet cannot be downloaded everywhere); ``synonym_source()`` says which.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable
from pathlib import Path

from cleanerclip_tool.augment.wordbanks import load_wordbanks

EDA_OPERATIONS: tuple[str, ...] = ("synonym", "insertion", "swap", "deletion")

# Function words EDA never picks for synonym replacement or as an insertion seed.
STOP_WORDS = frozenset(
    [
        "i",
        "me",
        "my",
        "myself",
        "we",
        "our",
        "ours",
        "ourselves",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "he",
        "him",
        "his",
        "himself",
        "she",
        "her",
        "hers",
        "herself",
        "it",
        "its",
        "itself",
        "they",
        "them",
        "their",
        "theirs",
        "themselves",
        "what",
        "which",
        "who",
        "whom",
        "this",
        "that",
        "these",
        "those",
        "am",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "have",
        "has",
        "had",
        "having",
        "do",
        "does",
        "did",
        "doing",
        "a",
        "an",
        "the",
        "and",
        "but",
        "if",
        "or",
        "because",
        "as",
        "until",
        "while",
        "of",
        "at",
        "by",
        "for",
        "with",
        "about",
        "against",
        "between",
        "into",
        "through",
        "during",
        "before",
        "after",
        "above",
        "below",
        "to",
        "from",
        "up",
        "down",
        "in",
        "out",
        "on",
        "off",
        "over",
        "under",
        "again",
        "further",
        "then",
        "once",
        "here",
        "there",
        "when",
        "where",
        "why",
        "how",
        "all",
        "any",
        "both",
        "each",
        "few",
        "more",
        "most",
        "other",
        "some",
        "such",
        "no",
        "nor",
        "not",
        "only",
        "own",
        "same",
        "so",
        "than",
        "too",
        "very",
        "s",
        "t",
        "can",
        "will",
        "just",
        "don",
        "should",
        "now",
    ]
)


def clean_text(text: str) -> str:
    """EDA's cleaning: lowercase, letters and single spaces only (apostrophes dropped, hyphens split)."""
    text = text.replace("'", "").replace("-", " ").replace("\t", " ").replace("\n", " ").lower()
    text = re.sub(r"[^a-z ]", " ", text)
    return " ".join(text.split())


@functools.lru_cache(maxsize=1)
def _wordnet() -> object | None:
    """NLTK's WordNet reader when its data is present, else None (no download is attempted)."""
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
        return wordnet
    except (LookupError, ImportError, OSError):
        return None


def synonym_source(wordbanks: str | Path | None = None) -> str:
    """``"wordnet"`` or ``"shipped:<path to synonyms.txt>"``: where EDA's synonyms come from."""
    if _wordnet() is not None:
        return "wordnet"
    return f"shipped:{load_wordbanks(str(wordbanks) if wordbanks is not None else None).directory / 'synonyms.txt'}"


def _synonyms_fn(wordbanks: str | Path | None) -> Callable[[str], list[str]]:
    wn = _wordnet()
    if wn is not None:

        def from_wordnet(word: str) -> list[str]:
            found: dict[str, None] = {}
            for synset in wn.synsets(word):  # type: ignore[attr-defined]
                for lemma in synset.lemmas():
                    name = clean_text(lemma.name().replace("_", " "))
                    if name and name != word:
                        found[name] = None
            return list(found)

        return from_wordnet
    banks = load_wordbanks(str(wordbanks) if wordbanks is not None else None)

    def from_shipped(word: str) -> list[str]:
        return sorted(s for s in banks.synonyms.get(word, frozenset()) if s != word)

    return from_shipped


def _synonym_replacement(
    words: list[str], n: int, rng: random.Random, synonyms: Callable[[str], list[str]]
) -> list[str]:
    new = list(words)
    candidates = list(dict.fromkeys(w for w in words if w not in STOP_WORDS))
    rng.shuffle(candidates)
    replaced = 0
    for word in candidates:
        options = synonyms(word)
        if options:
            choice = rng.choice(options)
            new = [choice if w == word else w for w in new]
            replaced += 1
        if replaced >= n:
            break
    return " ".join(new).split()


def _random_insertion(words: list[str], n: int, rng: random.Random, synonyms: Callable[[str], list[str]]) -> list[str]:
    new = list(words)
    for _ in range(n):
        for _attempt in range(10):
            options = synonyms(new[rng.randrange(len(new))]) if new else []
            if options:
                new.insert(rng.randrange(len(new) + 1), rng.choice(options))
                break
    return new


def _random_swap(words: list[str], n: int, rng: random.Random) -> list[str]:
    new = list(words)
    if len(new) < 2:
        return new
    for _ in range(n):
        i = rng.randrange(len(new))
        j = i
        for _attempt in range(3):
            j = rng.randrange(len(new))
            if j != i:
                break
        new[i], new[j] = new[j], new[i]
    return new


def _random_deletion(words: list[str], p: float, rng: random.Random) -> list[str]:
    if len(words) <= 1:
        return list(words)
    kept = [w for w in words if rng.random() > p]
    return kept or [words[rng.randrange(len(words))]]


def eda_augment(
    caption: str,
    rng: random.Random,
    alpha: float = 0.1,
    *,
    operation: str | None = None,
    wordbanks: str | Path | None = None,
) -> str:
    """One EDA operation on ``caption`` (drawn from ``rng`` unless ``operation`` names it).

    Returns the cleaned caption when the operation cannot change it (e.g. no synonyms known);
    an empty caption stays empty.
    """
    words = clean_text(caption).split()
    if not words:
        return ""
    op = operation or rng.choice(EDA_OPERATIONS)
    if op not in EDA_OPERATIONS:
        raise ValueError(f"unknown EDA operation {op!r}; expected one of {EDA_OPERATIONS}")
    n = max(1, int(alpha * len(words)))
    if op in ("synonym", "insertion"):
        synonyms = _synonyms_fn(wordbanks)
        fn = _synonym_replacement if op == "synonym" else _random_insertion
        out = fn(words, n, rng, synonyms)
    elif op == "swap":
        out = _random_swap(words, n, rng)
    else:
        out = _random_deletion(words, alpha, rng)
    return " ".join(out)
