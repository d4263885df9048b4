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

from cleanerclip_tool.augment.grammar import inflect_like, pluralize
from cleanerclip_tool.augment.positive import Entity, Relation, Slots
from cleanerclip_tool.augment.wordbanks import WordBanks

OPERATIONS: tuple[str, ...] = ("adjective", "relation", "noun")
_MAX_DRAWS = 64


def applicable_operations(slots: Slots) -> list[str]:
    """The operations that can change this parse, in the paper's order."""
    ops = []
    if slots.subject.adjectives or (slots.object is not None and slots.object.adjectives):
        ops.append("adjective")
    if slots.relation is not None and slots.object is not None:
        ops.append("relation")
    ops.append("noun")
    return ops


def _draw(bank: Sequence[str], banks: WordBanks, avoid: set[str], rng: random.Random) -> str | None:
    """A bank term that is neither in ``avoid`` nor a synonym of anything in it."""
    if not bank:
        return None
    for _ in range(_MAX_DRAWS):
        term = bank[rng.randrange(len(bank))]
        if term in avoid or banks.synonyms.get(term, frozenset()) & avoid:
            continue
        return term
    return None


def _avoid(banks: WordBanks, *words: str) -> set[str]:
    out: set[str] = set()
    for word in words:
        out |= banks.related(word)
    return out


def _replace_adjectives(entity: Entity, banks: WordBanks, rng: random.Random) -> Entity:
    if not entity.adjectives:
        return entity
    avoid = _avoid(banks, *entity.adjectives, entity.noun)
    new: list[str] = []
    for _ in entity.adjectives:
        term = _draw(banks.adjectives, banks, avoid, rng)
        if term is None:
            return entity
        new.append(term)
        avoid |= banks.related(term)
    return entity._replace(adjectives=tuple(new))


def _replace_noun(entity: Entity, banks: WordBanks, rng: random.Random, taken: set[str]) -> Entity:
    avoid = _avoid(banks, entity.noun, *taken) | {entity.noun.rsplit(" ", 1)[-1].lower()}
    for _ in range(_MAX_DRAWS):
        term = _draw(banks.nouns, banks, avoid, rng)
        if term is None:
            break
        noun = pluralize(term) if entity.plural else term
        if noun.lower() != entity.noun.lower():
            return entity._replace(noun=noun)
        avoid.add(term)
    return entity


def _replace_relation(relation: Relation, banks: WordBanks, rng: random.Random) -> Relation:
    avoid = _avoid(banks, relation.text)
    if relation.kind == "verb":
        term = _draw(banks.verbs or banks.relations, banks, avoid, rng)
        if term is None:
            return relation
        text = inflect_like(term, relation.tag) if term in banks.verb_set else term
        return Relation(text, "verb", relation.tag)
    term = _draw(banks.prepositions or banks.relations, banks, avoid, rng)
    return relation if term is None else Relation(term, "prep", "")


def make_negative(
    slots: Slots, banks: WordBanks, rng: random.Random, operation: str | None = None
) -> tuple[Slots, str]:
    """Apply one operation; ``operation`` forces it when applicable (else one is drawn at random).

    Returns the new slots and the operation applied ("none" when no replacement could be found,
    e.g. a custom word bank holding only the original words).
    """
    ops = applicable_operations(slots)
    op = operation if operation in ops else rng.choice(ops)
    new = slots
    if op == "adjective":
        new = slots._replace(
            subject=_replace_adjectives(slots.subject, banks, rng),
            object=_replace_adjectives(slots.object, banks, rng) if slots.object else None,
        )
    elif op == "relation":
        assert slots.relation is not None
        new = slots._replace(relation=_replace_relation(slots.relation, banks, rng))
    else:
        which = rng.choice(("subject", "object", "both")) if slots.object is not None else "subject"
        taken = {slots.subject.noun} | ({slots.object.noun} if slots.object else set())
        subject, obj = slots.subject, slots.object
        if which in ("subject", "both"):
            subject = _replace_noun(subject, banks, rng, taken)
            taken.add(subject.noun)
        if which in ("object", "both") and obj is not None:
            obj = _replace_noun(obj, banks, rng, taken)
        new = slots._replace(subject=subject, object=obj)
    if new == slots:
        return slots, "none"
    return new, op
