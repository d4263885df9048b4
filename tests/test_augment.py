"""Counterfactual sub-captions (paper §3.2) on a fixed set of varied, real-looking captions."""

from __future__ import annotations

import random
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cleanerclip_tool.augment import SubCaptioner, operation_mix
from cleanerclip_tool.augment import nlp as aug_nlp
from cleanerclip_tool.augment.cache import ParseCache
from cleanerclip_tool.augment.grammar import article_for, inflect_like, pluralize
from cleanerclip_tool.augment.negative import applicable_operations, make_negative
from cleanerclip_tool.augment.positive import META_NOUNS

CAPTIONS = [
    "A man riding a brown horse on the beach.",
    "Two dogs are playing with a frisbee in the park",
    "a picture of an apple",
    "close up of a red rose",
    "stock photo of happy young woman with laptop",
    "A little girl in a pink dress holding an umbrella",
    "a cat sleeping on a wooden table",
    "Three children sitting on the grass under a big tree.",
    "an old woman feeding pigeons in the square",
    "A plate of food with broccoli and rice",
    "sunset over the ocean",
    "Beautiful!",
    "a small blue diamond above a big red circle",
    "a big green triangle to the left of a small yellow star",
    "a small purple heart left of a big orange cross",
    "a big white hexagon below a small black ring",
    "a small red square right of a big blue pentagon",
    "a small gray ellipse next to a big green diamond",
    "A close-up photo of a black dog with a red collar",
    "Vector illustration of a cartoon elephant",
    "Man in a suit talking on his phone while walking down a busy city street in New York, "
    "surrounded by tall buildings, yellow taxis and crowds of tourists on a sunny afternoon",
    "Café terrace in Paris with red chairs",
    "Crème brûlée on a white plate",
    "A group of people standing around a food truck",
    "A bowl of fruit: apples, oranges, and bananas!",
    "4 puppies sleeping in a basket",
    "The Eiffel Tower at night",
    "an elephant walking through tall grass",
    "a hour-long exposure of stars",
    "A view of mountains from the window of an airplane",
    "Kids playing soccer",
    "A yellow school bus parked next to a building",
    "a woman is cutting a cake with a knife",
    "The giraffe eats leaves from a tall tree.",
    "two men in suits shaking hands in an office",
    "A bird perched on a branch",
    "a photo of a banana",
    "a unicorn standing on a rainbow",
    "Birthday cake with candles on a table, happy birthday, celebration party background, stock photo 2021",
    "running fast",
    "",
]
TOY = {
    "a small blue diamond above a big red circle": "a small blue diamond above a big red circle",
    "a big green triangle to the left of a small yellow star": (
        "a big green triangle to the left of a small yellow star"
    ),
    "a big white hexagon below a small black ring": "a big white hexagon below a small black ring",
    "a small red square right of a big blue pentagon": "a small red square right of a big blue pentagon",
    "a small gray ellipse next to a big green diamond": "a small gray ellipse next to a big green diamond",
}


@pytest.fixture(scope="module")
def captioner() -> SubCaptioner:
    """One captioner per module (spaCy loads once per process); no disk cache so tests stay independent."""
    return SubCaptioner(cache=False)


@pytest.fixture(scope="module")
def records(captioner: SubCaptioner):
    return captioner.batch(CAPTIONS, seed=0)


# -- positives -----------------------------------------------------------------------------------


def test_toy_world_captions_keep_the_full_template(captioner: SubCaptioner) -> None:
    for caption, expected in TOY.items():
        assert captioner.positive(caption) == expected
        # spatial relations stay prepositions, so the relation operation draws prepositions for them
        assert captioner.parse_many([caption])[caption].relation.kind == "prep", caption
    slots = captioner.parse_many(["a small purple heart left of a big orange cross"])
    assert slots["a small purple heart left of a big orange cross"].relation == ("left of", "prep", "")


def test_template_keeps_the_main_relation(captioner: SubCaptioner) -> None:
    assert captioner.positive("A man riding a brown horse on the beach.") == "a man riding a brown horse"
    assert captioner.positive("Two dogs are playing with a frisbee in the park") == "two dogs playing with a frisbee"
    assert captioner.positive("a woman is cutting a cake with a knife") == "a woman cutting a cake"
    assert captioner.positive("4 puppies sleeping in a basket") == "4 puppies sleeping in a basket"


def test_minimal_captions_keep_the_key_noun_phrase(captioner: SubCaptioner) -> None:
    assert captioner.positive("a picture of an apple") == "an apple"
    assert captioner.positive("close up of a red rose") == "a red rose"
    assert captioner.positive("a photo of a banana") == "a banana"
    assert captioner.positive("Vector illustration of a cartoon elephant").endswith("elephant")


def test_meta_nouns_are_never_the_subject(captioner: SubCaptioner, records) -> None:
    for caption, slots in captioner.parse_many(CAPTIONS).items():
        if slots is not None:
            assert slots.subject.noun.split()[-1].lower() not in META_NOUNS, caption
    for r in records:
        assert not re.match(r"^(a |an |the )?(picture|photo|image|view|illustration|close)\b", r.positive.lower()), r


def test_positive_is_shorter_and_made_of_caption_words(records) -> None:
    for r in records:
        if not r.parsed:
            continue
        caption_words = set(re.findall(r"\w+", r.caption.lower()))
        extra = set(re.findall(r"\w+", r.positive.lower())) - caption_words - {"a", "an"}
        assert not extra, (r, extra)
        assert len(r.positive) <= len(r.caption)


def test_parse_failures_are_counted_not_raised(captioner: SubCaptioner, monkeypatch: pytest.MonkeyPatch) -> None:
    out = captioner.batch(["Beautiful!", "", "running fast"], seed=0)
    assert [r.parsed for r in out] == [False, False, False]
    assert all(r.operation == "none" and r.negative == "" and r.positive == r.caption.strip() for r in out)
    assert captioner.stats.failures == 3

    fresh = SubCaptioner(cache=False)

    def broken(doc):
        raise RuntimeError("parser corner case")

    monkeypatch.setattr(aug_nlp, "scene_graph", broken)
    out = fresh.batch(["a dog on a sofa", "a cat"], seed=0)
    assert [r.parsed for r in out] == [False, False]
    assert fresh.stats.failures == 2 and "parser corner case" in fresh.stats.errors[0]


# -- negatives -----------------------------------------------------------------------------------


def test_every_parsed_caption_gets_a_different_negative(records) -> None:
    for r in records:
        if r.parsed:
            assert r.operation in ("adjective", "relation", "noun"), r
            assert r.negative and r.negative != r.positive, r
    mix = operation_mix(records)
    assert mix["adjective"] and mix["relation"] and mix["noun"]


@pytest.mark.parametrize("operation", ["adjective", "relation", "noun"])
def test_each_operation_alone_changes_only_its_slot(captioner: SubCaptioner, operation: str) -> None:
    parses = captioner.parse_many(CAPTIONS)
    done = 0
    for caption, slots in parses.items():
        if slots is None or operation not in applicable_operations(slots):
            continue
        new, op = make_negative(slots, captioner.banks, random.Random(caption), operation)
        assert op == operation
        done += 1
        if operation == "adjective":
            assert (new.subject.noun, new.relation, new.object and new.object.noun) == (
                slots.subject.noun,
                slots.relation,
                slots.object and slots.object.noun,
            )
            assert new.subject.adjectives != slots.subject.adjectives or (
                new.object is not None and new.object.adjectives != slots.object.adjectives
            )
            for old_e, new_e in ((slots.subject, new.subject), (slots.object, new.object)):
                if old_e is not None:
                    for old, repl in zip(old_e.adjectives, new_e.adjectives, strict=True):
                        assert repl not in captioner.banks.related(old)
        elif operation == "relation":
            assert (new.subject, new.object) == (slots.subject, slots.object)
            assert new.relation.text not in captioner.banks.related(slots.relation.text)
        else:
            assert new.relation == slots.relation
            assert new.subject.noun != slots.subject.noun or new.object.noun != slots.object.noun
            assert new.subject.plural == slots.subject.plural
    assert done >= 5


def test_inapplicable_operation_falls_back(captioner: SubCaptioner) -> None:
    slots = captioner.parse_many(["a photo of a banana"])["a photo of a banana"]
    assert applicable_operations(slots) == ["noun"]
    for seed in range(5):
        _, op = make_negative(slots, captioner.banks, random.Random(seed), "relation")
        assert op == "noun"


def test_plural_nouns_stay_plural_and_articles_agree(captioner: SubCaptioner) -> None:
    slots = captioner.parse_many(["4 puppies sleeping in a basket"])["4 puppies sleeping in a basket"]
    assert slots.subject.plural
    for seed in range(30):
        new, _ = make_negative(slots, captioner.banks, random.Random(seed), "noun")
        if new.subject.noun != slots.subject.noun:
            assert new.subject.noun == pluralize(new.subject.noun.rsplit(" ", 1)[-1]) or new.subject.noun.endswith("s")
    negatives = [r.negative for seed in range(3) for r in captioner.batch(CAPTIONS, seed=seed) if r.negative]
    for text in negatives:
        for art, word in re.findall(r"\b(a|an) (\S+)", text):
            assert art == article_for(word), text


def test_verb_keeps_its_inflection(captioner: SubCaptioner) -> None:
    slots = captioner.parse_many(["a man rides a horse"])["a man rides a horse"]
    assert slots.relation is not None and slots.relation.kind == "verb" and slots.relation.tag == "VBZ"
    for seed in range(10):
        new, op = make_negative(slots, captioner.banks, random.Random(seed), "relation")
        first = new.relation.text.split()[0]
        assert op == "relation" and first.endswith("s") and not first.endswith("ing"), new.relation
    ing = captioner.parse_many(["a man riding a horse"])["a man riding a horse"]
    new, _ = make_negative(ing, captioner.banks, random.Random(0), "relation")
    assert new.relation.text.split()[0].endswith("ing")


def test_grammar_helpers() -> None:
    assert [
        article_for(w) for w in ("apple", "hour", "unicorn", "one-way", "European", "banana", "X-ray", "honest")
    ] == ["an", "an", "a", "a", "a", "a", "an", "an"]
    assert [pluralize(w) for w in ("dog", "box", "city", "man", "knife", "toy", "school bus")] == [
        "dogs",
        "boxes",
        "cities",
        "men",
        "knives",
        "toys",
        "school buses",
    ]
    assert inflect_like("riding", "VBZ") == "rides"
    assert inflect_like("sitting on", "VBP") == "sit on"
    assert inflect_like("looking at", "VBG") == "looking at"


def test_same_seed_same_negatives_in_any_order(captioner: SubCaptioner) -> None:
    a = captioner.batch(CAPTIONS, seed=7)
    b = captioner.batch(list(reversed(CAPTIONS)), seed=7)
    assert [r.to_dict() for r in a] == [r.to_dict() for r in reversed(b)]
    c = captioner.batch(CAPTIONS, seed=8)
    assert [r.negative for r in a] != [r.negative for r in c]


def test_negative_of_a_positive_text(captioner: SubCaptioner) -> None:
    positive = captioner.positive("A man riding a brown horse on the beach.")
    negative, op = captioner.negative(positive, random.Random(1))
    assert op in ("adjective", "relation", "noun") and negative and negative != positive


# -- cache ---------------------------------------------------------------------------------------


def test_second_run_reads_the_cache_without_spacy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "cache.sqlite"
    first = SubCaptioner(cache_path=db)
    out1 = first.batch(CAPTIONS, seed=3)
    assert first.stats.parsed_now == len(set(CAPTIONS))

    calls = []

    def no_spacy(name: str):
        calls.append(name)
        raise AssertionError("spaCy must not be loaded on a cache hit")

    monkeypatch.setattr(aug_nlp, "load_nlp", no_spacy)
    second = SubCaptioner(cache_path=db)
    out2 = second.batch(CAPTIONS, seed=3)
    assert not calls
    assert second.stats.from_disk == len(set(CAPTIONS)) and second.stats.parsed_now == 0
    assert out1 == out2
    # Negatives are drawn after the cache: another seed still gives other negatives.
    assert [r.negative for r in second.batch(CAPTIONS, seed=4)] != [r.negative for r in out2]


def test_cache_key_depends_on_word_banks(tmp_path: Path) -> None:
    banks = tmp_path / "banks"
    banks.mkdir()
    for name, words in (("adjectives", "red\ngreen"), ("relations", "above\nholding"), ("nouns", "cat\ndog")):
        (banks / f"{name}.txt").write_text(f"# test bank\n{words}\n")
    shipped = SubCaptioner(cache_path=tmp_path / "c.sqlite")
    custom = SubCaptioner(wordbanks=banks, cache_path=tmp_path / "c.sqlite")
    assert shipped.namespace != custom.namespace
    out = custom.batch(["a small blue diamond above a big red circle"], seed=0, operation="noun")[0]
    assert set(out.negative.split()) & {"cat", "dog"}


def test_cache_is_safe_with_concurrent_writers(tmp_path: Path) -> None:
    cache = ParseCache(tmp_path / "c.sqlite")
    errors: list[BaseException] = []

    def write(offset: int) -> None:
        try:
            for i in range(20):
                cache.put_many({f"k{offset}-{i}-{j}": "null" for j in range(50)})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(cache.get_many([f"k{n}-{i}-{j}" for n in range(4) for i in range(20) for j in range(50)])) == 4000


def test_augment_imports_no_torch() -> None:
    code = (
        "import sys, cleanerclip_tool.augment as a; a.load_wordbanks(); "
        "print('torch' in sys.modules, 'spacy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
