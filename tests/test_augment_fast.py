"""The speed-ups of the sub-caption path change nothing: same parses, same records, stable draws."""

from __future__ import annotations

import multiprocessing
from collections import Counter

import pytest
from test_augment import CAPTIONS

from cleanerclip_tool.augment import SubCaptioner, caption_rng
from cleanerclip_tool.augment import nlp as aug_nlp
from cleanerclip_tool.augment.grammar import article_for
from cleanerclip_tool.augment.parsing import parse_chunk, parse_texts, pool_size
from cleanerclip_tool.augment.subcaptioner import _decode, _encode, _slots

# Words that start the attribute ruler's multi-token rules, and other odd input.
TRICKY = [
    "I'm gonna let's go, ain't it?",
    "gotta catch 'em all",
    "y'all come back now",
    "There is a dog on the sofa",
    "There are two cats near a window",
    "c'mon, a red kite above the hill",
    "  two   spaces\n\nand a newline  ",
    "THE BIG DOG RUNS",
    "an FBI agent holding a UFO model",
    "ＡＢＣ 全角 text with a cat",
]


@pytest.fixture(scope="module")
def model() -> str:
    return aug_nlp.resolve_model_name()


def _signature(doc) -> list[tuple]:
    return [(t.text, t.tag_, t.pos_, str(t.morph), t.lemma_, t.dep_, t.head.i) for t in doc]


def test_fast_pipeline_parses_exactly_like_the_stock_one(model: str) -> None:
    fast, stock = aug_nlp.load_nlp(model), aug_nlp.load_nlp(model, False)
    assert "table_attribute_ruler" in fast.pipe_names and "attribute_ruler" in fast.disabled
    assert "attribute_ruler" in stock.pipe_names
    texts = CAPTIONS + TRICKY
    for a, b in zip(stock.pipe(texts), fast.pipe(texts), strict=True):
        assert _signature(a) == _signature(b), a.text


def test_slots_round_trip_through_the_cache_encoding(model: str) -> None:
    texts = [*CAPTIONS, *TRICKY, "a red\x1fdog\x1e on a mat"]
    slots, _ = parse_chunk(model, texts)
    for text, s in zip(texts, slots, strict=True):
        if s is None:
            assert _decode(_encode(None)) is None
            continue
        back = _decode(_encode(s))
        assert back is not None
        if "\x1f" in text or "\x1e" in text:
            assert back[0] == s.render().replace("\x1f", " ").replace("\x1e", " ")
        else:
            assert back[0] == s.render() and _slots(back) == s, text


def test_caption_draws_are_stable_and_spread() -> None:
    a, b = caption_rng(3, "a dog"), caption_rng(3, "a dog")
    assert [a.randrange(1000) for _ in range(20)] == [b.randrange(1000) for _ in range(20)]
    other_seed = caption_rng(4, "a dog")
    other_text = caption_rng(3, "a cat")
    first = caption_rng(3, "a dog").randrange(1 << 30)
    assert other_seed.randrange(1 << 30) != first and other_text.randrange(1 << 30) != first
    # first draw per caption (what picks the operation) covers the choices about evenly
    counts = Counter(caption_rng(0, f"caption {i}").randrange(3) for i in range(3000))
    assert set(counts) == {0, 1, 2} and min(counts.values()) > 900
    assert all(0 <= caption_rng(s, "x").randrange(7) < 7 for s in range(200))


def test_process_pool_gives_the_same_slots(model: str) -> None:
    texts = CAPTIONS[:12] + TRICKY[:4]
    alone, _ = parse_texts(model, texts)
    pooled, errors = parse_texts(model, texts, n_process=2, batch_size=4)
    assert pooled == alone and not errors


def test_pool_only_when_it_pays() -> None:
    assert pool_size(10) == 0  # tiny input: never
    assert pool_size(10, n_process=2) == 2  # forced
    assert pool_size(1, n_process=2) == 0
    per = {"fork": 1000}.get(multiprocessing.get_start_method(), 4000)
    assert pool_size(per - 1) == 0


def test_batch_is_the_same_with_and_without_a_pool(tmp_path) -> None:
    captions = CAPTIONS * 2
    one = SubCaptioner(cache=False, n_process=1).batch(captions, seed=5)
    two = SubCaptioner(cache_path=tmp_path / "c.sqlite", n_process=2).batch(captions, seed=5)
    assert one == two


def test_articles_follow_letter_sounds_of_initialisms(model: str) -> None:
    assert [article_for(w) for w in ("FBI agent", "UFO", "NASA rocket", "8-ball", "MRI", "USB cable")] == [
        "an",
        "a",
        "a",
        "an",
        "an",
        "a",
    ]
    slots, _ = parse_chunk(model, ["an FBI agent holding a UFO model"])
    assert slots[0] is not None and slots[0].render().startswith("an FBI agent")
