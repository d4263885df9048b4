"""Factual (positive) sub-captions: the paper's template filled from a SceneGraphParser graph.

Template (paper §3.2)::

    (adjective of subject) + subject + relational verb + (adjective of object) + object

The graph's main relation gives the slots; when there is none, or the caption is minimal ("a
picture of an apple", "close up of a red rose"), the key noun phrase alone is kept. Meta nouns
(picture, photo, close up, view, ...) are never the subject, and a key noun that spaCy misread as
a verb ("close up of a red rose in water": "rose" as the past of "rise") is put back as a noun
phrase before the template is filled. What a parse yields is a small ``Slots`` value that is cached
on disk as separator-joined fields and re-rendered, so negatives can be drawn afresh from cached
parses.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from cleanerclip_tool.augment.grammar import article_for

# Nouns that describe the medium, not the content: never the subject of a sub-caption.
META_NOUNS = frozenset(
    [
        "picture",
        "photo",
        "photograph",
        "image",
        "pic",
        "snapshot",
        "shot",
        "view",
        "illustration",
        "drawing",
        "painting",
        "sketch",
        "render",
        "rendering",
        "vector",
        "clipart",
        "clip",
        "art",
        "icon",
        "graphic",
        "stock",
        "footage",
        "screenshot",
        "closeup",
        "close-up",
        "close",
        "up",
        "portrait",
        "wallpaper",
        "background",
        "poster",
        "banner",
        "cartoon",
        "artwork",
        "print",
        "postcard",
        "scene",
        "selfie",
        "frame",
        "thumbnail",
        "template",
        "mockup",
        "mock-up",
        "depiction",
        "representation",
        "photography",
        "still",
    ]
)
# "a group of people": the group is not what the picture shows; the people are.
COLLECTIVE_NOUNS = frozenset(
    [
        "group",
        "bunch",
        "couple",
        "pair",
        "herd",
        "flock",
        "pack",
        "crowd",
        "lot",
        "lots",
        "number",
        "set",
        "collection",
        "pile",
        "stack",
        "row",
    ]
)
# "to the left of", "at the bottom of": the middle noun is part of the relation, not an entity.
DIRECTION_NOUNS = frozenset(
    ["left", "right", "top", "bottom", "front", "back", "side", "middle", "center", "centre", "edge", "corner", "rear"]
)
MAX_ADJECTIVES = 2  # "selectively simplifying adjectives": keep the two nearest the noun
_DETERMINER_DEPS = frozenset({"det", "nummod", "poss", "predet"})


class Entity(NamedTuple):
    """A noun phrase slot: determiner/count, adjectives, noun (compounds kept), number.

    Named tuples rather than dataclasses: a cached run builds millions of these, and tuples are
    several times cheaper to create and compare.
    """

    det: str
    adjectives: tuple[str, ...]
    noun: str
    plural: bool

    def render(self) -> str:
        return render_entity(self.det, self.adjectives, self.noun)

    def to_json(self) -> list:
        return [self.det, list(self.adjectives), self.noun, self.plural]

    @classmethod
    def from_json(cls, data: list) -> Entity:
        return cls(data[0], tuple(data[1]), data[2], bool(data[3]))


def render_entity(det: str, adjectives: Sequence[str], noun: str) -> str:
    """Render a noun phrase ("a red rose", "an old rose", "two red roses"): the article follows the sound."""
    if det in ("a", "an"):
        det = article_for(adjectives[0] if adjectives else noun)
    if adjectives:
        return f"{det} {' '.join(adjectives)} {noun}" if det else f"{' '.join(adjectives)} {noun}"
    return f"{det} {noun}" if det else noun


class Relation(NamedTuple):
    """The relation slot: ``kind`` is "verb" (with its Penn tag) or "prep"."""

    text: str
    kind: str
    tag: str = ""

    def to_json(self) -> list:
        return [self.text, self.kind, self.tag]

    @classmethod
    def from_json(cls, data: list) -> Relation:
        return cls(data[0], data[1], data[2])


class Slots(NamedTuple):
    """What a caption's parse yields; ``relation``/``object`` are None for the key-noun fallback."""

    subject: Entity
    relation: Relation | None = None
    object: Entity | None = None

    def render(self) -> str:
        if self.relation is None or self.object is None:
            return self.subject.render()
        return f"{self.subject.render()} {self.relation.text} {self.object.render()}"

    def to_json(self) -> list:
        return [
            self.subject.to_json(),
            self.relation.to_json() if self.relation else None,
            self.object.to_json() if self.object else None,
        ]

    @classmethod
    def from_json(cls, data: list) -> Slots:
        return cls(
            Entity.from_json(data[0]),
            Relation.from_json(data[1]) if data[1] else None,
            Entity.from_json(data[2]) if data[2] else None,
        )


def _is_meta(lemma_head: str) -> bool:
    text = lemma_head.lower()
    last = text.rsplit(" ", 1)[-1]
    return text in META_NOUNS or last in META_NOUNS or last in COLLECTIVE_NOUNS


def _det_word(tok: Any) -> str:
    """A determiner slot word; a possessive keeps its clitic ("a man's dog", not "a man dog")."""
    word = tok.text if tok.pos_ == "PROPN" else tok.text.lower()
    if tok.dep_ == "poss":
        word += "".join(c.text for c in tok.children if c.dep_ == "case")
    return word


def _lower_keep_acronyms(text: str) -> str:
    """Lowercase, except all-caps acronyms ("FBI agent"), whose article follows the letter's sound."""
    return " ".join(w if len(w) > 1 and w.isupper() and w.isalpha() else w.lower() for w in text.split(" "))


def _entity(doc: Any, ent: dict) -> tuple[Entity, Any]:
    start, end = ent["span_bounds"]
    span = doc[start:end]
    root = span.root
    before = [t for t in span if t.i < root.i]
    # spaCy sometimes hangs "a big" on the next adjective or a compound ("a big purple square",
    # "a big orange cross"), and SceneGraphParser only reads the root's children: take such
    # determiners and adjectives too, as long as they modify a word of the same noun phrase.
    dets = [
        t
        for t in before
        if (t.dep_ in _DETERMINER_DEPS and t.head.i == root.i)
        or (t.dep_ == "det" and t.head.dep_ in ("amod", "compound", "poss") and start <= t.head.i < end)
    ]
    det = " ".join(_det_word(t) for t in dets)
    adjectives = [
        t.text.lower()
        for t in before
        if start <= t.head.i < end
        and (t.dep_ == "amod" or (t.dep_ == "conj" and t.head.dep_ == "amod"))  # "red and white"
    ] or [m["span"].lower() for m in ent["modifiers"] if m["dep"] == "amod"]
    noun = ent["head"] if root.pos_ == "PROPN" else _lower_keep_acronyms(ent["head"])
    plural = root.tag_ in ("NNS", "NNPS") or "Plur" in root.morph.get("Number")
    return Entity(det, tuple(adjectives[-MAX_ADJECTIVES:]), noun, plural), root


_GAP_POS = frozenset({"VERB", "ADP", "ADV", "PART", "AUX"})
MAX_GAP_TOKENS = 5


def _gap(doc: Any, left_end: int, right_start: int) -> Any | None:
    """The tokens between two noun phrases when they read as a relation ("sitting on", "to the left of")."""
    gap = doc[left_end:right_start]
    if not 1 <= len(gap) <= MAX_GAP_TOKENS:
        return None
    for i, tok in enumerate(gap):
        ok = tok.pos_ in _GAP_POS or tok.lower_ in DIRECTION_NOUNS or (tok.pos_ == "DET" and 0 < i < len(gap) - 1)
        if not ok:
            return None
    if not any(t.pos_ in ("ADP", "VERB") for t in gap):
        return None
    while len(gap) > 1 and gap[0].pos_ == "AUX":  # "are sitting on" -> "sitting on"
        gap = gap[1:]
    return gap


def _relation(doc: Any, text: str, subj: tuple[dict, Any], obj: tuple[dict, Any]) -> Relation:
    """Relation slot for ``text``; a bare preposition takes its verb along ("sleeping in")."""
    subj_end, obj_start = subj[0]["span_bounds"][1], obj[0]["span_bounds"][0]
    first = text.split(" ", 1)[0].lower()
    if subj_end <= obj_start:
        gap = _gap(doc, subj_end, obj_start)
        if gap is not None and first in gap.text.lower().split():
            verbs = [t for t in gap if t.pos_ in ("VERB", "AUX") and t.lower_ not in DIRECTION_NOUNS]
            if verbs:
                return Relation(gap.text.lower(), "verb", verbs[0].tag_)
            return Relation(gap.text.lower(), "prep", "")
    lo, hi = sorted((subj[1].i, obj[1].i))
    for tok in doc[lo : hi + 1]:
        if tok.text.lower() == first and tok.pos_ in ("VERB", "AUX") and first not in DIRECTION_NOUNS:
            return Relation(text.lower(), "verb", tok.tag_)
    return Relation(text.lower(), "prep", "")


# spaCy, trained on sentences, reads the noun of a verbless caption as a finite verb when it can be
# one: "close up of a red rose in water" becomes "[a red] rose(VBD) in water", and SceneGraphParser
# then has no entity for the rose at all, so the positive was "water". Such a verb is recognised by
# what stands right before it, which no real finite verb follows in a caption: an article or count
# ("a rose", "two leaves"), an adjective heading no noun of its own ("a red" + "rose"), a preposition
# ("of rose"), or nothing (a caption that starts with it, with only prepositional phrases on it).
_FINITE_VERB_TAGS = frozenset({"VBD", "VBN", "VBZ", "VBP"})
_NOUN_PHRASE_LEFT_POS = frozenset({"DET", "NUM", "ADJ"})
_ARTICLES = frozenset({"a", "an", "the"})
_NOUN_FRAGMENT_DEPS = frozenset({"prep", "punct", "cc", "conj"})


def _misread_noun(doc: Any, tok: Any) -> bool:
    """Whether a finite-verb token is really the noun of a verbless noun phrase (see above)."""
    if tok.pos_ != "VERB" or tok.tag_ not in _FINITE_VERB_TAGS:
        return False
    if tok.i == 0:  # "rose in water": only prepositional phrases hang on it, no subject, no object
        deps = {c.dep_ for c in tok.children}
        return "prep" in deps and deps <= _NOUN_FRAGMENT_DEPS
    prev = doc[tok.i - 1]
    if prev.pos_ == "DET":
        return prev.lower_ in _ARTICLES
    if prev.pos_ == "NUM":
        return True
    if prev.pos_ == "ADJ":  # "red" heads a noun-less phrase: it is the verb's subject or an object
        return prev.head.i == tok.i or prev.head.i < prev.i
    return prev.pos_ == "ADP" and prev.dep_ == "prep"


def _repaired_entities(doc: Any) -> list[tuple[dict, Entity, Any]]:
    """Noun phrases whose noun spaCy misread as a verb, as (graph-like entity, Entity, noun token)."""
    out: list[tuple[dict, Entity, Any]] = []
    for tok in doc:
        if not _misread_noun(doc, tok):
            continue
        start = tok.i
        while start > 0 and doc[start - 1].pos_ in _NOUN_PHRASE_LEFT_POS:
            start -= 1
        before = doc[start : tok.i]
        det = " ".join(t.text.lower() for t in before if t.pos_ in ("DET", "NUM"))
        adjectives = tuple(t.text.lower() for t in before if t.pos_ == "ADJ")[-MAX_ADJECTIVES:]
        noun = _lower_keep_acronyms(tok.text)
        plural = tok.tag_ in ("VBZ", "VBP") and noun.endswith("s")
        ent = {"span_bounds": (start, tok.i + 1), "lemma_head": noun, "span": doc[start : tok.i + 1].text}
        out.append((ent, Entity(det, adjectives, noun, plural), tok))
    return out


def _with_repairs(doc: Any, graph: dict) -> tuple[list[dict], list[tuple[Entity, Any]], list[tuple[int, int, str]]]:
    """The graph's entities (built) and relations, with misread noun phrases put back in text order.

    Graph entities overlapping a repaired phrase ("a red", read as a noun phrase of its own) give
    way to it, and relations that involved them are dropped; the relation of the repaired phrase is
    then found between it and the next noun phrase, like any relation the graph missed.
    """
    entities = graph["entities"]
    relations = [(r["subject"], r["object"], r["relation"]) for r in graph["relations"]]
    repairs = _repaired_entities(doc)
    if not repairs:
        return entities, [_entity(doc, e) for e in entities], relations
    spans = [r[0]["span_bounds"] for r in repairs]
    kept = [
        i
        for i, e in enumerate(entities)
        if not any(e["span_bounds"][0] < end and start < e["span_bounds"][1] for start, end in spans)
    ]
    items = [(entities[i]["span_bounds"][0], 0, i) for i in kept] + [(s[0], 1, j) for j, s in enumerate(spans)]
    items.sort()
    new_entities: list[dict] = []
    built: list[tuple[Entity, Any]] = []
    index: dict[int, int] = {}
    for _, repaired, i in items:
        if repaired:
            ent, entity, tok = repairs[i]
            new_entities.append(ent)
            built.append((entity, tok))
        else:
            index[i] = len(new_entities)
            new_entities.append(entities[i])
            built.append(_entity(doc, entities[i]))
    remapped = [(index[s], index[o], t) for s, o, t in relations if s in index and o in index]
    return new_entities, built, remapped


def slots_from_doc(doc: Any, graph: dict) -> Slots | None:
    """Fill the template from a Doc and its SceneGraphParser graph; None when no usable noun exists.

    The graph's relations are used first; "to the left of" chains through a direction noun are
    merged, and when the graph has no relation for the key noun (spaCy sometimes tags a toy shape
    as a proper noun, or "right" as an apposition) the words between the key noun phrase and the
    next one are taken as the relation if they read as one.
    """
    entities, built, relations = _with_repairs(doc, graph)
    if not entities:
        return None
    lemma_heads = [e["lemma_head"].lower() for e in entities]
    direction = {i for i, h in enumerate(lemma_heads) if h in DIRECTION_NOUNS}
    valid = [
        i
        for i, (_, root) in enumerate(built)
        if i not in direction and root.pos_ != "PRON" and not _is_meta(lemma_heads[i])
    ]
    if not valid:
        return None

    merged: list[tuple[int, int, str]] = []
    for subj, obj, text in relations:
        if obj in direction:  # "to" + "the left" + "of" -> "to the left of"
            for mid, obj2, text2 in relations:
                if mid == obj and text2.lower() == "of":
                    merged.append((subj, obj2, f"{text} {entities[obj]['span'].lower()} of"))
            continue
        merged.append((subj, obj, text))

    valid_set = set(valid)
    key = valid[0]
    candidates = [(s, o, t) for s, o, t in merged if s in valid_set and o in valid_set and s != o]
    if not any(s == key for s, _, _ in candidates):
        nxt = next((i for i in valid if entities[i]["span_bounds"][0] >= entities[key]["span_bounds"][1]), None)
        if nxt is not None:
            gap = _gap(doc, entities[key]["span_bounds"][1], entities[nxt]["span_bounds"][0])
            if gap is not None:
                candidates.insert(0, (key, nxt, gap.text))
    if not candidates:
        return Slots(built[key][0])
    rels = [(s, o, _relation(doc, t, (entities[s], built[s][1]), (entities[o], built[o][1]))) for s, o, t in candidates]
    main = (
        next((c for c in rels if c[0] == key and c[2].kind == "verb"), None)
        or next((c for c in rels if c[0] == key), None)
        or rels[0]
    )
    subj, obj, relation = main
    return Slots(built[subj][0], relation, built[obj][0])
