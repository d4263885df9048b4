"""Small English inflection helpers, so that replacements keep the sentence grammatical.

Only what negatives need: "a"/"an" by the SOUND of the next word, plural nouns, and a verb's
-ing form turned into the inflection of the word it replaces. Rules plus short exception lists; no
dictionary download.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

# Vowel letter, consonant sound ("a unicorn", "a one-way street", "a European city").
_CONSONANT_SOUND_PREFIXES = ("uni", "use", "usu", "uti", "ure", "uro", "eu", "ewe", "one", "once", "ufo", "uk")
# Consonant letter, vowel sound ("an hour", "an honest man").
_VOWEL_SOUND_PREFIXES = ("hour", "honest", "honor", "honour", "heir", "herb")
_SINGLE_LETTERS_VOWEL_SOUND = set("aefhilmnorsx")  # "an X-ray", "an F", "an MRI"
# All-caps words said as words, not letters: "a NASA rocket", "a NATO base".
_ACRONYM_WORDS = frozenset({"nasa", "nato", "fifa", "opec", "unicef", "unesco", "laser", "radar", "scuba", "aids"})


@functools.lru_cache(maxsize=65536)
def article_for(word: str) -> str:
    """``"a"`` or ``"an"`` for the word that follows the article."""
    w = word.strip().lower()
    if not w:
        return "a"
    head = re.split(r"[-\s]", word.strip())[0]
    # Letters and initialisms read letter by letter: "an X-ray", "an MRI", "an FBI agent", "a UFO".
    initialism = len(head) <= 5 and head.isupper() and head.lower() not in _ACRONYM_WORDS
    if head.isalpha() and (len(head) == 1 or initialism):
        return "an" if w[0] in _SINGLE_LETTERS_VOWEL_SOUND else "a"
    if w.startswith(_VOWEL_SOUND_PREFIXES):
        return "an"
    if w.startswith(_CONSONANT_SOUND_PREFIXES):
        return "a"
    if w[0].isdigit():
        return "an" if w.startswith(("8", "11", "18")) else "a"
    return "an" if w[0] in "aeiou" else "a"


_IRREGULAR_PLURALS = {
    "man": "men",
    "woman": "women",
    "child": "children",
    "person": "people",
    "foot": "feet",
    "tooth": "teeth",
    "goose": "geese",
    "mouse": "mice",
    "ox": "oxen",
    "sheep": "sheep",
    "deer": "deer",
    "fish": "fish",
    "series": "series",
    "species": "species",
    "aircraft": "aircraft",
    "moose": "moose",
    "cactus": "cacti",
    "fungus": "fungi",
    "leaf": "leaves",
    "knife": "knives",
    "wife": "wives",
    "life": "lives",
    "wolf": "wolves",
    "calf": "calves",
    "half": "halves",
    "shelf": "shelves",
    "loaf": "loaves",
    "thief": "thieves",
    "potato": "potatoes",
    "tomato": "tomatoes",
    "hero": "heroes",
    "echo": "echoes",
    "criterion": "criteria",
    "phenomenon": "phenomena",
    "people": "people",
}


@functools.lru_cache(maxsize=65536)
def pluralize(noun: str) -> str:
    """English plural of a (possibly multi-word) noun: the last word is inflected."""
    head, _, last = noun.rpartition(" ")
    low = last.lower()
    if low in _IRREGULAR_PLURALS:
        plural = _IRREGULAR_PLURALS[low]
    elif re.search(r"(s|x|z|ch|sh)$", low):
        plural = low + "es"
    elif re.search(r"[^aeiou]y$", low):
        plural = low[:-1] + "ies"
    else:
        plural = low + "s"
    if last[:1].isupper():
        plural = plural[:1].upper() + plural[1:]
    return f"{head} {plural}" if head else plural


_E_DROPPED = re.compile(r"[^aeiou][aeiou][^aeiouwxy]$")


def ing_to_base(ing: str) -> str:
    """Best-effort base form of an -ing verb ("riding" -> "ride", "running" -> "run")."""
    if not ing.endswith("ing") or len(ing) <= 4:
        return ing
    stem = ing[:-3]
    if stem.endswith("y") or stem.endswith("i"):  # "lying" <- "lie" is rare; "playing" -> "play"
        return stem
    if len(stem) >= 3 and stem[-1] == stem[-2] and stem[-1] not in "lsz":  # running, sitting
        return stem[:-1]
    if stem.endswith(("at", "iv", "ak", "id", "ir", "ar", "os", "ov", "uc", "ag", "ud", "ut", "ur", "av", "ec")):
        return stem + "e"  # skating, driving, making, riding, ...
    if _E_DROPPED.search(stem) and not stem.endswith(("en", "on", "er", "el", "it", "et")):
        return stem + "e"
    return stem


def third_person(base: str) -> str:
    """``rides``, ``watches``, ``carries``."""
    if re.search(r"(s|x|z|ch|sh|o)$", base):
        return base + "es"
    if re.search(r"[^aeiou]y$", base):
        return base[:-1] + "ies"
    return base + "s"


def past(base: str) -> str:
    """A regular past form; irregular verbs come out regularised ("rided"), so callers avoid it."""
    if base.endswith("e"):
        return base + "d"
    if re.search(r"[^aeiou]y$", base):
        return base[:-1] + "ied"
    return base + "ed"


@functools.lru_cache(maxsize=65536)
def inflect_like(ing_phrase: str, tag: str) -> str:
    """Turn an -ing relation ("looking at") into the inflection of a Penn ``tag`` (VBZ, VBP, VB, ...).

    Past tags keep the -ing form ("was riding" reads better than a guessed irregular past), so the
    caller keeps the auxiliary of the original where there was one.
    """
    verb, sep, rest = ing_phrase.partition(" ")
    if tag == "VBZ":
        verb = third_person(ing_to_base(verb))
    elif tag in ("VBP", "VB"):
        verb = ing_to_base(verb)
    return verb + sep + rest


class WordMemo(dict):
    """``memo[word]`` is ``fn(word)``, computed once: a plain dict look-up on a hit.

    The cached negative path pluralises or inflects a word per caption; an ``lru_cache`` call (argument
    tuple, wrapper frame) cost several times the dict look-up. Keys are word-bank terms, so the
    memos stay as small as the banks.
    """

    def __init__(self, fn: Callable[[str], str]) -> None:
        super().__init__()
        self.fn = fn

    def __missing__(self, word: str) -> str:
        value = self[word] = self.fn(word)
        return value


PLURALS = WordMemo(pluralize)
# Penn tag -> the -ing relation inflected for it; tags missing here leave the -ing form as it is.
VERB_FORMS = {
    tag: WordMemo(functools.partial(lambda tag, word: inflect_like(word, tag), tag)) for tag in ("VBZ", "VBP", "VB")
}
