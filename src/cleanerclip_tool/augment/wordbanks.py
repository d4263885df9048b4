"""The replacement repositories: adjectives, relations, nouns (+ synonym groups).

Each bank is a plain text file, one term per line, ``#`` lines are comments, ordered from common to
rare (paper §3.2). ``scripts/build_wordbanks.py`` builds the shipped ones; users can point
``wordbanks=`` / ``--wordbanks DIR`` at their own folder holding the same file names. Synonyms
come from ``synonyms.txt`` (optional; one group per line, ``, ``-separated) so that a negative never
swaps a word for one of its synonyms.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from cleanerclip_tool.errors import BadInputError
from cleanerclip_tool.resources import wordbanks_dir

BANK_FILES: tuple[str, ...] = ("adjectives", "relations", "nouns")
SYNONYMS_FILE = "synonyms.txt"


def read_terms(path: Path) -> list[str]:
    """Terms of one bank file, in file order, lowercase, without comments, blanks or duplicates."""
    seen: set[str] = set()
    terms: list[str] = []
    for raw in path.read_text(encoding="utf-8").splitlines():
        term = " ".join(raw.split()).lower()
        if term and not term.startswith("#") and term not in seen:
            seen.add(term)
            terms.append(term)
    return terms


def is_verb_relation(term: str) -> bool:
    """Relations are verbs in -ing form ("riding", "looking at") or prepositions ("next to")."""
    return term.split(" ", 1)[0].endswith("ing") and len(term.split(" ", 1)[0]) > 4


@dataclass(frozen=True)
class WordBanks:
    """Loaded banks; ``content_hash`` identifies them in cache keys and reports."""

    directory: Path
    adjectives: tuple[str, ...]
    nouns: tuple[str, ...]
    verbs: tuple[str, ...]  # relations in -ing form
    prepositions: tuple[str, ...]  # spatial / prepositional relations
    synonyms: dict[str, frozenset[str]] = field(repr=False)
    content_hash: str
    verb_set: frozenset[str] = field(default=frozenset(), repr=False)
    # term -> every word within two synonym steps of it (itself included): a drawn term clashes with
    # a word or any of that word's synonyms exactly when the word is in this set (groups are
    # symmetric), so negatives test a draw against the few original words instead of building the
    # words' synonym union for every caption. Only terms that have synonyms are keys.
    synonym_closure: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)

    @property
    def relations(self) -> tuple[str, ...]:
        return self.prepositions + self.verbs

    def related(self, word: str) -> frozenset[str]:
        """The word itself and every synonym listed for it (lowercase)."""
        w = word.lower()
        return self.synonyms.get(w, frozenset()) | {w}


def synonym_closure(synonyms: dict[str, frozenset[str]]) -> dict[str, frozenset[str]]:
    """``term -> union of synonyms(x) for x in synonyms(term)`` (see ``WordBanks.synonym_closure``)."""
    return {term: frozenset().union(*(synonyms[x] for x in related)) for term, related in synonyms.items()}


def _read_synonyms(path: Path) -> dict[str, frozenset[str]]:
    groups: dict[str, set[str]] = {}
    if not path.is_file():
        return {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        group = {" ".join(t.split()).lower() for t in raw.split(",") if t.strip()}
        for term in group:
            groups.setdefault(term, set()).update(group)
    return {k: frozenset(v) for k, v in groups.items()}


@functools.lru_cache(maxsize=8)
def load_wordbanks(directory: str | Path | None = None) -> WordBanks:
    """Load the banks in ``directory`` (default: the shipped ones); a missing file is a BadInputError."""
    folder = Path(directory).expanduser() if directory is not None else wordbanks_dir()
    if not folder.is_dir():
        raise BadInputError("word-bank folder not found", where=folder)
    digest = hashlib.sha256()
    banks: dict[str, list[str]] = {}
    for name in BANK_FILES:
        path = folder / f"{name}.txt"
        if not path.is_file():
            raise BadInputError(f"missing {name}.txt (one term per line)", where=folder)
        banks[name] = read_terms(path)
        if not banks[name]:
            raise BadInputError("word bank is empty", where=path)
        digest.update(name.encode() + b"\0" + "\n".join(banks[name]).encode() + b"\0")
    syn_path = folder / SYNONYMS_FILE
    synonyms = _read_synonyms(syn_path)
    if syn_path.is_file():
        digest.update(syn_path.read_bytes())
    relations = banks["relations"]
    return WordBanks(
        directory=folder,
        adjectives=tuple(banks["adjectives"]),
        nouns=tuple(banks["nouns"]),
        verbs=tuple(t for t in relations if is_verb_relation(t)),
        prepositions=tuple(t for t in relations if not is_verb_relation(t)),
        synonyms=synonyms,
        content_hash=digest.hexdigest()[:16],
        verb_set=frozenset(t for t in relations if is_verb_relation(t)),
        synonym_closure=synonym_closure(synonyms),
    )
