"""Sub-captions of the toy world's own captions, and noun phrases spaCy attaches oddly.

The toy world's test of a purified model relies on its captions keeping the whole template (size,
colour, shape, relation), so every sampled caption must come back unchanged as the positive.
"""

from __future__ import annotations

import random

import pytest

from cleanerclip_tool.augment import SubCaptioner
from cleanerclip_tool.augment.grammar import article_for
from cleanerclip_tool.augment.negative import make_negative
from cleanerclip_tool.toyworld.captions import COLOUR_WORDS, RELATIONS, SHAPES, SIZE_WORDS


def _phrase(rng: random.Random) -> str:
    words = [
        w
        for w, say in ((rng.choice(SIZE_WORDS), rng.random() < 0.6), (rng.choice(COLOUR_WORDS), rng.random() < 0.6))
        if say
    ]
    words.append(rng.choice(SHAPES))
    return f"{article_for(words[0])} {' '.join(words)}"


def _toy_captions(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    out = {f"{_phrase(rng)} {rng.choice(RELATIONS)} {_phrase(rng)}" for _ in range(n)}
    out |= {f"a {size} {colour} {shape}" for size in SIZE_WORDS for colour in COLOUR_WORDS for shape in SHAPES[:3]}
    return sorted(out)


@pytest.fixture(scope="module")
def captioner() -> SubCaptioner:
    return SubCaptioner(cache=False)


def test_toy_world_captions_are_their_own_positive(captioner: SubCaptioner) -> None:
    captions = _toy_captions(300)
    records = captioner.batch(captions, seed=0)
    assert [r.positive for r in records] == captions
    parses = captioner.parse_many(captions)
    for caption, slots in parses.items():
        if " " in caption and any(f" {rel} " in caption for rel in RELATIONS):
            assert slots.relation is not None and slots.relation.kind == "prep", caption
            assert slots.relation.text in RELATIONS, caption


def test_toy_world_adjective_negatives_keep_the_shapes(captioner: SubCaptioner) -> None:
    caption = "a big purple square below a big diamond"  # spaCy hangs "a big" on "purple" here
    slots = captioner.parse_many([caption])[caption]
    assert slots.subject.det == "a" and slots.subject.adjectives == ("big", "purple")
    new, op = make_negative(slots, captioner.banks, random.Random(0), "adjective")
    assert op == "adjective" and (new.subject.noun, new.object.noun) == ("square", "diamond")
    assert new.render().startswith(("a ", "an ")) and new.render() != caption


@pytest.mark.parametrize(
    ("caption", "positive"),
    [
        ("a small purple heart left of a big orange cross", "a small purple heart left of a big orange cross"),
        ("a man's dog on a sofa", "a man's dog on a sofa"),
        ("the girl's red kite above the trees", "the girl's red kite above the trees"),
    ],
)
def test_modifiers_attached_to_a_neighbour_are_kept(captioner: SubCaptioner, caption: str, positive: str) -> None:
    assert captioner.positive(caption) == positive
