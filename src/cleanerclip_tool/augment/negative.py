"""Counterfactual (negative) sub-captions: one random replacement operation (paper §3.2).

The three operations: (1) ``adjective`` — replace the adjectives of subject and object (not
applicable when there are none), (2) ``relation`` — replace the relational verb or preposition (not
applicable without a relation), (3) ``noun`` — replace the subject and/or the object noun. One is
drawn uniformly among those applicable. Replacements come from the word banks and are never the
original word or one of its listed synonyms; articles follow the new word's sound, plural nouns
stay plural and verbs keep their inflection.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Protocol

from cleanerclip_tool.augment.grammar import inflect_like, pluralize
from cleanerclip_tool.augment.positive import Entity, Relation, Slots
from cleanerclip_tool.augment.wordbanks import WordBanks

OPERATIONS: tuple[str, ...] = ("adjective", "relation", "noun")


class _Draws(Protocol):
    def randrange(self, n: int, /) -> int: ...


Rng = random.Random | _Draws
_MAX_DRAWS = 64


def applicable_operations(slots: Slots) -> list[str]:
    """The operations that can change this parse, in the paper's order."""
    subject, obj = slots.subject, slots.object
    ops = []
    if subject.adjectives or (obj is not None and obj.adjectives):
        ops.append("adjective")
    if slots.relation is not None and obj is not None:
        ops.append("relation")
    ops.append("noun")
    return ops


def _draw(bank: Sequence[str], banks: WordBanks, avoid: set[str], rng: Rng) -> str | None:
    """A bank term that is neither in ``avoid`` nor a synonym of anything in it."""
    if not bank:
        return None
    synonyms = banks.synonyms
    n = len(bank)
    for _ in range(_MAX_DRAWS):
        term = bank[rng.randrange(n)]
        if term in avoid:
            continue
        related = synonyms.get(term)
        if related is not None and not related.isdisjoint(avoid):
            continue
        return term
    return None


def _avoid(banks: WordBanks, *words: str) -> set[str]:
    """The words and all their listed synonyms (lowercase): what a replacement must not be."""
    synonyms = banks.synonyms
    out: set[str] = set()
    for word in words:
        w = word.lower()
        out.add(w)
        related = synonyms.get(w)
        if related is not None:
            out |= related
    return out


def _replace_adjectives(entity: Entity, banks: WordBanks, rng: Rng) -> Entity:
    if not entity.adjectives:
        return entity
    avoid = _avoid(banks, *entity.adjectives, entity.noun)
    bank, synonyms = banks.adjectives, banks.synonyms
    new: list[str] = []
    for _ in entity.adjectives:
        term = _draw(bank, banks, avoid, rng)
        if term is None:
            return entity
        new.append(term)
        avoid.add(term)  # two replacements differ, and are no synonyms of each other
        related = synonyms.get(term)
        if related is not None:
            avoid |= related
    return Entity(entity.det, tuple(new), entity.noun, entity.plural)


def _replace_noun(entity: Entity, banks: WordBanks, rng: Rng, taken: set[str]) -> Entity:
    avoid = _avoid(banks, entity.noun, *taken)
    avoid.add(entity.noun.rsplit(" ", 1)[-1].lower())
    for _ in range(_MAX_DRAWS):
        term = _draw(banks.nouns, banks, avoid, rng)
        if term is None:
            break
        noun = pluralize(term) if entity.plural else term
        if noun.lower() != entity.noun.lower():
            return Entity(entity.det, entity.adjectives, noun, entity.plural)
        avoid.add(term)
    return entity


def _replace_relation(relation: Relation, banks: WordBanks, rng: Rng) -> Relation:
    avoid = _avoid(banks, relation.text)
    if relation.kind == "verb":
        term = _draw(banks.verbs or banks.relations, banks, avoid, rng)
        if term is None:
            return relation
        text = inflect_like(term, relation.tag) if term in banks.verb_set else term
        return Relation(text, "verb", relation.tag)
    term = _draw(banks.prepositions or banks.relations, banks, avoid, rng)
    return relation if term is None else Relation(term, "prep", "")


def make_negative(slots: Slots, banks: WordBanks, rng: Rng, operation: str | None = None) -> tuple[Slots, str]:
    """Apply one operation; ``operation`` forces it when applicable (else one is drawn at random).

    ``rng`` is a ``random.Random`` or anything with its ``randrange``/``choice`` (the batch path
    passes a cheaper ``CaptionStream``). Returns the new slots and the operation applied ("none"
    when no replacement could be found, e.g. a custom word bank holding only the original words).
    """
    ops = applicable_operations(slots)
    op = operation if operation in ops else ops[rng.randrange(len(ops))]
    subject, relation, obj = slots
    if op == "adjective":
        new = Slots(
            _replace_adjectives(subject, banks, rng),
            relation,
            _replace_adjectives(obj, banks, rng) if obj is not None else None,
        )
    elif op == "relation":
        assert relation is not None
        new = Slots(subject, _replace_relation(relation, banks, rng), obj)
    else:
        which = _WHICH[rng.randrange(3)] if obj is not None else "subject"
        taken = {subject.noun} if obj is None else {subject.noun, obj.noun}
        if which != "object":
            subject = _replace_noun(subject, banks, rng, taken)
            taken.add(subject.noun)
        if which != "subject" and obj is not None:
            obj = _replace_noun(obj, banks, rng, taken)
        new = Slots(subject, relation, obj)
    if new == slots:
        return slots, "none"
    return new, op


_WHICH = ("subject", "object", "both")
