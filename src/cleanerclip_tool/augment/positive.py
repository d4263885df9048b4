"""Factual (positive) sub-captions: the paper's template filled from a SceneGraphParser graph.

Template (paper §3.2)::

    (adjective of subject) + subject + relational verb + (adjective of object) + object

The graph's main relation gives the slots; when there is none, or the caption is minimal ("a
picture of an apple", "close up of a red rose"), the key noun phrase alone is kept. Meta nouns
(picture, photo, close up, view, ...) are never the subject. What a parse yields is a small
``Slots`` value that is cached on disk as JSON and re-rendered, so negatives can be drawn afresh
from cached parses.
"""

from __future__ import annotations

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
        words = [*self.adjectives, self.noun]
        det = self.det
        if det in ("a", "an"):
            det = article_for(words[0])
        return " ".join([det, *words] if det else words)

    def to_json(self) -> list:
        return [self.det, list(self.adjectives), self.noun, self.plural]

    @classmethod
    def from_json(cls, data: list) -> Entity:
        return cls(data[0], tuple(data[1]), data[2], bool(data[3]))


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


def slots_from_doc(doc: Any, graph: dict) -> Slots | None:
    """Fill the template from a Doc and its SceneGraphParser graph; None when no usable noun exists.

    The graph's relations are used first; "to the left of" chains through a direction noun are
    merged, and when the graph has no relation for the key noun (spaCy sometimes tags a toy shape
    as a proper noun, or "right" as an apposition) the words between the key noun phrase and the
    next one are taken as the relation if they read as one.
    """
    entities = graph["entities"]
    if not entities:
        return None
    built = [_entity(doc, e) for e in entities]
    lemma_heads = [e["lemma_head"].lower() for e in entities]
    direction = {i for i, h in enumerate(lemma_heads) if h in DIRECTION_NOUNS}
    valid = [
        i
        for i, (_, root) in enumerate(built)
        if i not in direction and root.pos_ != "PRON" and not _is_meta(lemma_heads[i])
    ]
    if not valid:
        return None

    relations: list[tuple[int, int, str]] = [(r["subject"], r["object"], r["relation"]) for r in graph["relations"]]
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
