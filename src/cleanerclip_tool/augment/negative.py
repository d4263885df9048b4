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
from collections.abc import Callable, Collection, Sequence
from typing import TYPE_CHECKING, Protocol

from cleanerclip_tool.augment.draws import PrefetchedStream
from cleanerclip_tool.augment.grammar import PLURALS, VERB_FORMS, article_for, inflect_like, pluralize
from cleanerclip_tool.augment.positive import Slots, render_entity
from cleanerclip_tool.augment.wordbanks import WordBanks

if TYPE_CHECKING:
    import numpy as np

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


def _clashes(term: str, near: Collection[str], bare: Collection[str], banks: WordBanks) -> bool:
    """Whether a drawn ``term`` must be rejected: it or one of its synonyms is a word to avoid.

    ``near``: words avoided together with their synonyms (the originals, earlier replacements);
    ``bare``: words avoided as they are. A term clashes when it or one of its synonyms is a ``bare``
    word or is, or is a synonym of, a ``near`` word: that is a ``near`` word within two synonym steps
    of the term (``banks.synonym_closure``), which spares building the words' synonym union for each
    caption. Lowercase words in, as in the banks. Every draw of every path applies this one rule.
    """
    around = banks.synonym_closure.get(term)
    if around is None:  # no synonyms: only the word itself can clash
        return term in near or term in bare
    return not around.isdisjoint(near) or not banks.synonyms[term].isdisjoint(bare)


def _draw(bank: Sequence[str], banks: WordBanks, near: Collection[str], bare: Collection[str], rng: Rng) -> str | None:
    """A bank term that does not clash (``_clashes``) with ``near`` and ``bare``; None after many tries."""
    n = len(bank)
    if not n:
        return None
    randrange = rng.randrange
    for _ in range(_MAX_DRAWS):
        term = bank[randrange(n)]
        if not _clashes(term, near, bare, banks):
            return term
    return None


# -- the three replacements, on plain strings: shared by ``make_negative`` (Slots in, Slots out)
# -- and ``negative_from_fields`` (the batch path, which renders straight from the cached fields).


def new_adjectives(adjectives: Sequence[str], noun: str, banks: WordBanks, rng: Rng) -> tuple[str, ...] | None:
    """Replacements for ``adjectives`` (never each other's synonyms); None when the bank runs dry."""
    near = [a.lower() for a in adjectives]
    near.append(noun.lower())
    bank = banks.adjectives
    new: list[str] = []
    for _ in adjectives:
        term = _draw(bank, banks, near, (), rng)
        if term is None:
            return None
        new.append(term)
        near.append(term)  # two replacements differ, and are no synonyms of each other
    return tuple(new)


def _other_noun(low: str, plural: bool, draw: Callable[[list[str]], str | None]) -> str | None:
    """Draw nouns (``draw(bare)``: one bank draw avoiding ``bare`` too) until one differs from ``low``
    once pluralised as the original; both the reference and the batch path run this loop."""
    bare = [low.rsplit(" ", 1)[-1]]
    for _ in range(_MAX_DRAWS):
        term = draw(bare)
        if term is None:
            break
        new = pluralize(term) if plural else term
        if new.lower() != low:
            return new
        bare.append(term)
    return None


def new_noun(noun: str, plural: bool, banks: WordBanks, rng: Rng, taken: Collection[str]) -> str | None:
    """Another noun (plural when ``plural``), none of ``taken`` or their synonyms; None if none found."""
    low = noun.lower()
    near = [low, *(t.lower() for t in taken)]
    return _other_noun(low, plural, lambda bare: _draw(banks.nouns, banks, near, bare, rng))


def new_relation(text: str, kind: str, tag: str, banks: WordBanks, rng: Rng) -> str:
    """Another relation of the same kind, a verb inflected like the original; ``text`` if none found."""
    near = (text.lower(),)
    if kind == "verb":
        term = _draw(banks.verbs or banks.relations, banks, near, (), rng)
        if term is None:
            return text
        return inflect_like(term, tag) if term in banks.verb_set else term
    term = _draw(banks.prepositions or banks.relations, banks, near, (), rng)
    return text if term is None else term


def make_negative(slots: Slots, banks: WordBanks, rng: Rng, operation: str | None = None) -> tuple[Slots, str]:
    """Apply one operation; ``operation`` forces it when applicable (else one is drawn at random).

    ``rng`` is a ``random.Random`` or anything with its ``randrange`` (the batch path passes a
    cheaper ``CaptionStream``). Returns the new slots and the operation applied ("none" when no
    replacement could be found, e.g. a custom word bank holding only the original words).
    """
    ops = applicable_operations(slots)
    op = operation if operation in ops else ops[rng.randrange(len(ops))]
    subject, relation, obj = slots
    if op == "adjective":
        if subject.adjectives:
            adjs = new_adjectives(subject.adjectives, subject.noun, banks, rng)
            if adjs is not None:
                subject = subject._replace(adjectives=adjs)
        if obj is not None and obj.adjectives:
            adjs = new_adjectives(obj.adjectives, obj.noun, banks, rng)
            if adjs is not None:
                obj = obj._replace(adjectives=adjs)
    elif op == "relation":
        assert relation is not None
        relation = relation._replace(text=new_relation(relation.text, relation.kind, relation.tag, banks, rng))
    else:
        which = _WHICH[rng.randrange(3)] if obj is not None else "subject"
        taken = {subject.noun} if obj is None else {subject.noun, obj.noun}
        if which != "object":
            noun = new_noun(subject.noun, subject.plural, banks, rng, taken)
            if noun is not None:
                subject = subject._replace(noun=noun)
            taken.add(subject.noun)
        if which != "subject" and obj is not None:
            noun = new_noun(obj.noun, obj.plural, banks, rng, taken)
            if noun is not None:
                obj = obj._replace(noun=noun)
    new = Slots(subject, relation, obj)
    if new == slots:
        return slots, "none"
    return new, op


# Cached fields of a parse (see ``subcaptioner._encode``): positive, then the subject's determiner,
# adjectives (joined by RS), noun, plural flag and rendering; with a relation, its text, kind and
# tag, then the object's five fields.
RS = "\x1e"
_SUBJECT_ONLY = 6
_OPS_BY_SHAPE = (  # [has relation][has adjectives] -> applicable operations, in the paper's order
    (("noun",), ("adjective", "noun")),
    (("relation", "noun"), ("adjective", "relation", "noun")),
)


class _Prefetched(Protocol):
    """What the batch path needs of its stream: prefetched ``next64`` outputs, extended on demand."""

    draws: list[int]
    i: int

    def prefetch_more(self) -> None: ...


def _pick(
    bank: Sequence[str], banks: WordBanks, near: Collection[str], bare: Collection[str], stream: _Prefetched
) -> str | None:
    """``_draw`` reading the stream's outputs directly (one call less per draw on the hot path)."""
    n = len(bank)
    if not n:
        return None
    draws = stream.draws
    i = stream.i
    for _ in range(_MAX_DRAWS):
        if i >= len(draws):
            stream.prefetch_more()
        term = bank[draws[i] % n]
        i += 1
        if not _clashes(term, near, bare, banks):
            stream.i = i
            return term
    stream.i = i
    return None


def _render_raw(det: str, adjectives: str, noun: str) -> str:
    """``render_entity`` of cached fields: adjectives still joined by RS."""
    if adjectives:
        if det == "a" or det == "an":
            det = article_for(adjectives.partition(RS)[0])
        words = f"{adjectives.replace(RS, ' ')} {noun}"
    else:
        if det == "a" or det == "an":
            det = article_for(noun)
        words = noun
    return f"{det} {words}" if det else words


def _fresh_adjectives(adjectives: str, noun: str, banks: WordBanks, stream: _Prefetched) -> list[str] | None:
    """``new_adjectives`` on an RS-joined field (None: the bank ran dry)."""
    old = adjectives.split(RS)
    near = [*old, noun.lower()]  # cached adjectives are lowercase already
    new: list[str] = []
    bank = banks.adjectives
    for _ in old:
        term = _pick(bank, banks, near, (), stream)
        if term is None:
            return None
        new.append(term)
        near.append(term)
    return new


def _fresh_noun(noun: str, plural: bool, banks: WordBanks, stream: _Prefetched, near: list[str]) -> str | None:
    """``new_noun`` with ``near`` = the lowercase nouns taken (the entity's own first)."""
    return _other_noun(near[0], plural, lambda bare: _pick(banks.nouns, banks, near, bare, stream))


def negative_from_fields(
    f: Sequence[str], banks: WordBanks, stream: _Prefetched, operation: str | None = None
) -> tuple[str, str]:
    """``make_negative`` rendered, straight from cached fields: ``(negative text, operation)``.

    The same draws in the same order as ``make_negative`` on the decoded slots with the caption's
    ``CaptionStream`` (pinned by ``tests/test_subcaptions_regression.py``), without building slots,
    and reading the prefetched stream outputs of ``stream`` (``draws.PrefetchedStream``) directly. The
    unchanged side of the template keeps its cached rendering. This is most of what a cached
    sub-caption costs, hence a path of its own.
    """
    draws = stream.draws
    rel = len(f) > _SUBJECT_ONLY
    ops = _OPS_BY_SHAPE[rel][bool(f[2]) or (rel and bool(f[10]))]
    if operation in ops:
        op = operation
    else:
        if stream.i >= len(draws):
            stream.prefetch_more()
        op = ops[draws[stream.i] % len(ops)]
        stream.i += 1
    if op == "adjective":
        s_text = f[5]
        changed = False
        if f[2]:
            adjs = _fresh_adjectives(f[2], f[3], banks, stream)
            if adjs is not None:
                s_text = render_entity(f[1], adjs, f[3])
                changed = True
        if rel and f[10]:
            adjs = _fresh_adjectives(f[10], f[11], banks, stream)
            if adjs is not None:
                return f"{s_text} {f[6]} {render_entity(f[9], adjs, f[11])}", op
        if not changed:
            return "", "none"
        return (f"{s_text} {f[6]} {f[13]}" if rel else s_text), op
    if op == "relation":
        text = new_relation(f[6], f[7], f[8], banks, stream)  # type: ignore[arg-type]
        return (f"{f[5]} {text} {f[13]}", op) if text != f[6] else ("", "none")
    # noun
    if rel:
        if stream.i >= len(draws):
            stream.prefetch_more()
        which = draws[stream.i] % 3
        stream.i += 1
    else:
        which = 0
    s_low = f[3].lower()
    s_text = f[5]
    changed = False
    if which != 1:  # subject or both
        noun = _fresh_noun(f[3], f[4] == "1", banks, stream, [s_low, f[11].lower()] if rel else [s_low])
        if noun is not None:
            s_text = _render_raw(f[1], f[2], noun)
            changed = True
    if which != 0:  # object or both: not the subject's old noun, nor its new one
        near = [f[11].lower(), s_low]
        if changed:
            near.append(noun.lower())
        noun = _fresh_noun(f[11], f[12] == "1", banks, stream, near)
        if noun is not None:
            return f"{s_text} {f[6]} {_render_raw(f[9], f[10], noun)}", op
    if not changed:
        return "", "none"
    return (f"{s_text} {f[6]} {f[13]}" if rel else s_text), op


_WHICH = ("subject", "object", "both")


def negatives_from_fields(
    fields: Sequence[Sequence[str]], draws: np.ndarray, captions: Sequence[str], seed: int, banks: WordBanks
) -> list[tuple[str, str]]:
    """``negative_from_fields`` for a whole batch (random operation): the same ``(negative, operation)``s.

    Why a batch form: on a cached run this is nearly all the work left, and per caption the generic
    path spends most of its time on set-up, branching and 64-bit arithmetic rather than on the draw.
    Here ``draws`` (``draws.draw_matrix``: each caption's first four stream outputs) is reduced to
    bank positions with numpy, the operation is picked for every caption, and each operation's
    captions go through one loop written for the common case: one adjective per noun, a bank that
    is not empty, a first draw that clashes with nothing (the same test as ``_draw``). Articles,
    plurals and verb forms come from the ``grammar`` memos; a replaced noun keeps its entity's
    cached rendering up to the noun. A caption outside that case goes whole to
    ``negative_from_fields`` with its own stream, drawing from the start: the result is the
    reference's in every case (``tests/test_subcaptions_regression.py``).
    """
    A, N, V, P = banks.adjectives, banks.nouns, banks.verbs, banks.prepositions
    out: list[tuple[str, str]] = [("", "none")] * len(fields)
    first = draws[:, 0]
    of_three, of_two = (first % 3).tolist(), (first % 2).tolist()
    groups: tuple[list[int], list[int], list[int]] = ([], [], [])  # adjective, relation, noun
    add = tuple(group.append for group in groups)
    subject_only = _SUBJECT_ONLY
    # The operation, from the stream's first output as in make_negative.
    for k, f, three, two in zip(range(len(fields)), fields, of_three, of_two, strict=True):
        if len(f) > subject_only:
            add[three if f[2] or f[10] else two + 1](k)
        else:
            add[two * 2 if f[2] else 2](k)
    slow: list[int] = []

    def positions(index: list[int], column: int, n: int) -> list[int]:
        """Bank positions drawn by output ``column`` of the captions in ``index`` (zeros for an empty bank)."""
        return (draws[index, column] % n).tolist() if n else [0] * len(index)

    index = groups[0]  # adjective: a new adjective for each side that has one
    for k, at_1, at_2 in zip(index, positions(index, 1, len(A)), positions(index, 2, len(A)), strict=True):
        f = fields[k]
        old = f[2]
        if old:
            term = A[at_1]
            if RS in old or _clashes(term, (old, f[3].lower()), (), banks):
                slow.append(k)
                continue
            s_text = render_entity(f[1], (term,), f[3])
            at_1 = at_2
        else:
            s_text = f[5]
        if len(f) <= _SUBJECT_ONLY:
            out[k] = (s_text, "adjective")
            continue
        old = f[10]
        if not old:
            out[k] = (f"{s_text} {f[6]} {f[13]}", "adjective")
            continue
        term = A[at_1]
        if RS in old or _clashes(term, (old, f[11].lower()), (), banks):
            slow.append(k)
            continue
        out[k] = f"{s_text} {f[6]} {render_entity(f[9], (term,), f[11])}", "adjective"

    index = groups[1]  # relation: another verb (inflected like the original) or preposition
    for k, at_v, at_p in zip(index, positions(index, 1, len(V)), positions(index, 1, len(P)), strict=True):
        f = fields[k]
        old = f[6]
        verb = f[7] == "verb"
        if not (V if verb else P):
            slow.append(k)
            continue
        term = V[at_v] if verb else P[at_p]
        if _clashes(term, (old.lower(),), (), banks):
            slow.append(k)
            continue
        if verb:
            forms = VERB_FORMS.get(f[8])
            if forms is not None:
                term = forms[term]
        out[k] = (f"{f[5]} {term} {f[13]}", "relation") if term != old else ("", "none")

    index = groups[2]  # noun: the subject's, the object's or both (the stream's second output)
    n = len(N)
    columns = zip(index, positions(index, 1, 3), *(positions(index, c, n) for c in (1, 2, 3)), strict=True)
    for k, which, at_1, at_2, at_3 in columns:
        f = fields[k]
        s_low = f[3].lower()
        if len(f) > _SUBJECT_ONLY:
            rel = True
            o_low = f[11].lower()
            s_at, o_at = at_2, (at_3 if which == 2 else at_2)
        else:
            rel, which, o_low, s_at, o_at = False, 0, "", at_1, 0
        new = ""
        s_text = f[5]
        if which != 1:  # subject or both
            new = _first_noun(N[s_at], s_low, f[4] == "1", (s_low, o_low), banks)
            if new is None:
                slow.append(k)
                continue
            s_text = _render_new_noun(f[1], f[2], f[5], f[3], new)
            if which == 0:
                out[k] = (f"{s_text} {f[6]} {f[13]}" if rel else s_text), "noun"
                continue
        # object or both: not the subject's old noun, nor its new one
        obj = _first_noun(N[o_at], o_low, f[12] == "1", (o_low, s_low, new), banks)
        if obj is None:
            slow.append(k)
            continue
        out[k] = f"{s_text} {f[6]} {_render_new_noun(f[9], f[10], f[13], f[11], obj)}", "noun"

    if slow:
        stream = PrefetchedStream(seed)
        for k in slow:
            out[k] = negative_from_fields(fields[k], banks, stream.reset(captions[k], draws[k].tolist()))
    return out


def _first_noun(term: str, low: str, plural: bool, near: tuple[str, ...], banks: WordBanks) -> str | None:
    """A first noun draw as ``_other_noun`` would take it (pluralised like ``low``), or None when that
    loop would reject it: the batch path then redoes the caption on the general path."""
    if _clashes(term, near, (low.rpartition(" ")[2],), banks):
        return None
    new = PLURALS[term] if plural else term
    return None if new == low else new


def _render_new_noun(det: str, adjectives: str, rendered: str, noun: str, new: str) -> str:
    """An entity's cached rendering with its noun replaced: with adjectives the article follows the
    first adjective, so only the tail changes; without, "a"/"an" follows the new noun."""
    if adjectives:
        return rendered[: len(rendered) - len(noun)] + new
    return render_entity(det, (), new)
