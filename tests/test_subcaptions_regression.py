"""Sub-captions stay what they were: pinned records, the fast batch path against the reference one,
the meta-noun bug ("close up of a red rose" gave "water"), and the cache's two read paths."""

from __future__ import annotations

import json
import random
import sqlite3
import sys
from pathlib import Path

import pytest
from test_augment import CAPTIONS

from cleanerclip_tool.augment import SubCaptioner
from cleanerclip_tool.augment.cache import ParseCache
from cleanerclip_tool.augment.draws import PREFETCH, CaptionStream, PrefetchedStream, draw_matrix, prefetch_draws
from cleanerclip_tool.augment.negative import (
    OPERATIONS,
    _draw,
    make_negative,
    negative_from_fields,
    negatives_from_fields,
)
from cleanerclip_tool.augment.subcaptioner import _decode, _encode
from cleanerclip_tool.augment.wordbanks import load_wordbanks

PINNED = Path(__file__).parent / "data" / "subcaptions_pinned.json"
sys.path.insert(0, str(Path(__file__).parents[1] / "benchmarks"))
from bench_subcaptions import make_captions  # noqa: E402


@pytest.fixture(scope="module")
def captioner() -> SubCaptioner:
    return SubCaptioner(cache=False)


@pytest.fixture(scope="module")
def pinned() -> list[dict]:
    return json.loads(PINNED.read_text(encoding="utf-8"))["records"]


def _by_seed(pinned: list[dict]) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    for record in pinned:
        out.setdefault(record["seed"], []).append(record)
    return out


def test_records_are_the_pinned_ones_parsed_and_cached(pinned, tmp_path: Path) -> None:
    """Records written by the code before the speed work: same caption + seed, same record."""
    db = tmp_path / "c.sqlite"
    for seed, expected in _by_seed(pinned).items():
        captions = [r["caption"] for r in expected]
        fresh = SubCaptioner(cache_path=db).batch(captions, seed=seed)  # parsed (first seed) or cached
        again = SubCaptioner(cache_path=db).batch(captions, seed=seed)  # from the disk cache
        for record, want in zip(fresh, expected, strict=True):
            assert {"seed": seed, **record.to_dict()} == want
        assert again == fresh


def test_fast_path_draws_exactly_like_make_negative(captioner: SubCaptioner) -> None:
    captions = [c for c in CAPTIONS if c] + make_captions(300, seed=11)
    parses = captioner.parse_many(captions)
    banks = captioner.banks
    for seed in (0, 1, 29):
        draws = prefetch_draws(seed, captions)
        stream = PrefetchedStream(seed)
        for caption, prefetched in zip(captions, draws, strict=True):
            slots = parses[caption]
            if slots is None:
                continue
            fields = _decode(_encode(slots))
            for operation in (None, *OPERATIONS):
                new, op = make_negative(slots, banks, CaptionStream(seed, caption), operation)
                want = (new.render() if op != "none" else "", op)
                got = negative_from_fields(fields, banks, stream.reset(caption, list(prefetched)), operation)
                assert got == want, (caption, seed, operation)


def _tight_banks(tmp_path: Path) -> Path:
    """Tiny banks where most terms are synonyms of each other: draws get rejected and banks run dry."""
    folder = tmp_path / "tight"
    folder.mkdir()
    (folder / "adjectives.txt").write_text("red\ncrimson\nscarlet\nbig\nlarge\nhuge\nold\n")
    (folder / "nouns.txt").write_text("dog\nhound\npuppy\ncat\nkitten\ntable\ndesk\nbench\n")
    (folder / "relations.txt").write_text("on\natop\nabove\nholding\ngrasping\nriding\n")
    (folder / "synonyms.txt").write_text(
        "red, crimson, scarlet\nbig, large\nlarge, huge\ndog, hound, puppy\ncat, kitten\ntable, desk\n"
        "on, atop\natop, above\nholding, grasping\n"
    )
    return folder


# Captions whose words are in the tight banks, with their synonyms (one or two adjectives, plurals,
# a verb and a preposition relation, no relation).
TIGHT_CAPTIONS = [
    "a big red dog on a table",
    "two red dogs holding a large cat",
    "a huge old cat riding a crimson bench",
    "a dog",
    "three large tables",
]


def test_fast_path_matches_with_rejections_and_dry_banks(tmp_path: Path) -> None:
    captioner = SubCaptioner(wordbanks=_tight_banks(tmp_path), cache=False)
    captions = TIGHT_CAPTIONS
    parses = captioner.parse_many(captions)
    banks = captioner.banks
    seen_ops = set()
    for seed in range(60):
        for caption in captions:
            slots = parses[caption]
            assert slots is not None, caption
            fields = _decode(_encode(slots))
            for operation in (None, *OPERATIONS):
                new, op = make_negative(slots, banks, CaptionStream(seed, caption), operation)
                stream = PrefetchedStream(seed).reset(caption, prefetch_draws(seed, [caption], k=1)[0])
                got = negative_from_fields(fields, banks, stream, operation)
                assert got == ((new.render() if op != "none" else ""), op), (caption, seed, operation)
                seen_ops.add(op)
    assert seen_ops == {"adjective", "relation", "noun", "none"}


def _batch_against_reference(captioner: SubCaptioner, captions: list[str], seeds: range | tuple) -> set[str]:
    """The batch renderer gives, caption by caption, what ``negative_from_fields`` gives; returns the ops seen."""
    parses = captioner.parse_many(captions)
    kept = [c for c in captions if parses[c] is not None]
    fields = [_decode(_encode(parses[c])) for c in kept]
    seen: set[str] = set()
    for seed in seeds:
        matrix = draw_matrix(seed, kept)
        got = negatives_from_fields(fields, matrix, kept, seed, captioner.banks)
        stream = PrefetchedStream(seed)
        for caption, f, row, result in zip(kept, fields, matrix.tolist(), got, strict=True):
            assert result == negative_from_fields(f, captioner.banks, stream.reset(caption, row)), (caption, seed)
            seen.add(result[1])
    return seen


def test_batch_negatives_equal_the_reference(captioner: SubCaptioner) -> None:
    """Varied captions (one and two adjectives, plurals, no relation, prepositions) over 40 seeds."""
    captions = [c for c in CAPTIONS if c] + make_captions(200, seed=5)
    assert _batch_against_reference(captioner, captions, range(40)) == {"adjective", "relation", "noun"}


def test_batch_negatives_equal_the_reference_when_draws_clash(tmp_path: Path) -> None:
    """Tight banks: first draws are often an original word or its synonym, and banks run dry."""
    captioner = SubCaptioner(wordbanks=_tight_banks(tmp_path), cache=False)
    captions = [*TIGHT_CAPTIONS, "a red dog", "the cat on the desk"]
    assert _batch_against_reference(captioner, captions, range(300)) == {"adjective", "relation", "noun", "none"}


def test_batch_negatives_without_verbs_or_prepositions(tmp_path: Path) -> None:
    """A relation bank of prepositions only (or verbs only): the other kind falls back to all relations."""
    for name, relations in (("preps", "on\nunder\nbeside\n"), ("verbs", "holding\nriding\nwatching\n")):
        (tmp_path / name).mkdir()
        folder = _tight_banks(tmp_path / name)
        (folder / "relations.txt").write_text(relations)
        captioner = SubCaptioner(wordbanks=folder, cache=False)
        seen = _batch_against_reference(captioner, ["a dog riding a bench", "a cat on a table"], range(100))
        assert "relation" in seen


def test_synonym_closure_rejects_exactly_the_avoid_set(tmp_path: Path) -> None:
    """The draw's two-step closure test equals building the words' synonym union (the old rule)."""
    banks = load_wordbanks(_tight_banks(tmp_path))
    terms = sorted({*banks.adjectives, *banks.nouns, *banks.relations})
    rng = random.Random(5)
    for _ in range(400):
        near = rng.sample(terms, rng.randint(1, 3))
        bare = rng.sample(terms, rng.randint(0, 2))
        avoid = set(bare)
        for word in near:
            avoid |= banks.synonyms.get(word, frozenset()) | {word}
        for term in terms:
            old_rule = term in avoid or not banks.synonyms.get(term, frozenset()).isdisjoint(avoid)
            drawn = _draw([term], banks, near, bare, random.Random(0))
            assert (drawn is None) == old_rule, (term, near, bare)


def test_prefetched_stream_is_the_caption_stream() -> None:
    captions = ["a dog", "", "Crème brûlée", "x" * 500, "\udcff lone surrogate"]
    for seed in (0, 3, -7, 2**70):
        stream = PrefetchedStream(seed)
        for caption, draws in zip(captions, prefetch_draws(seed, captions), strict=True):
            assert len(draws) == PREFETCH
            reference = CaptionStream(seed, caption)
            stream.reset(caption, draws)
            want = [reference.randrange(1_000_003) for _ in range(3 * PREFETCH)]
            got = [stream.randrange(1_000_003) for _ in range(2 * PREFETCH)]
            stream.prefetch_more()  # past the prefetched outputs: extended in place, same numbers
            stream.prefetch_more()
            assert len(stream.draws) == 3 * PREFETCH
            assert [d % 1_000_003 for d in stream.draws] == want, (seed, caption)
            got += [stream.randrange(1_000_003) for _ in range(PREFETCH)]
            assert got == want, (seed, caption)


# -- the meta-noun bug -----------------------------------------------------------------------------

META_CASES = {
    "close up of a red rose": "a red rose",
    "Close up of a red rose.": "a red rose",
    # spaCy reads "rose" as the past of "rise" here; the key noun phrase was lost ("water", "the rain")
    "close up of a red rose in water": "a red rose in water",
    "a close up of a red rose in the rain": "a red rose in the rain",
    "a close-up of a red rose with water drops": "a red rose with water",
    "closeup of a red rose on a table": "a red rose on a table",
    "a red rose": "a red rose",
    "close-up of a dog's face": "a dog's face",
    "view of the city from a bridge": "the city from a bridge",
    "a picture of an apple": "an apple",
    "photo of two cats on a sofa": "two cats on a sofa",
}


@pytest.mark.parametrize("caption", list(META_CASES))
def test_meta_nouns_never_hide_the_key_noun_phrase(captioner: SubCaptioner, caption: str) -> None:
    assert captioner.positive(caption) == META_CASES[caption]
    record = captioner.batch([caption], seed=0)[0]
    assert record.parsed and record.positive == META_CASES[caption]
    assert record.negative and record.negative != record.positive


def test_a_real_verb_after_a_noun_stays_a_relation(captioner: SubCaptioner) -> None:
    assert captioner.positive("a man rose from his chair") == "a man rose from his chair"
    assert captioner.positive("the sun rose over the hills") == "the sun rose over the hills"


# -- cache -------------------------------------------------------------------------------------------


def test_cache_reads_all_or_some_of_a_namespace(tmp_path: Path) -> None:
    cache = ParseCache(tmp_path / "c.sqlite")
    cache.put_many({f"caption {i}": f"value {i}" for i in range(2000)}, "ns")
    cache.put_many({"caption 1": "other"}, "ns2")
    everything = cache.get_many([f"caption {i}" for i in range(1500)], "ns")  # one full SELECT
    some = cache.get_many(["caption 7", "caption 1999", "missing"], "ns")  # IN look-ups
    assert all(everything[f"caption {i}"] == f"value {i}" for i in range(1500))
    assert some == {"caption 7": "value 7", "caption 1999": "value 1999"}
    assert cache.get_many(["caption 1"], "ns2") == {"caption 1": "other"}
    assert cache.get_many(["caption 1"], "none") == {}


def test_cache_blocks_merge_and_keep_odd_captions(tmp_path: Path) -> None:
    """Many small writes (one per purify epoch) are merged; a caption holding the block separator
    is found through its row; a caption written twice keeps its latest value."""
    path = tmp_path / "c.sqlite"
    cache = ParseCache(path)
    for epoch in range(40):
        cache.put_many({f"caption {epoch}-{i}": f"value {epoch}-{i}" for i in range(5)}, "ns")
    cache.put_many({"odd \x1d caption": "v\x1dw", "caption 0-0": "newer"}, "ns")
    with sqlite3.connect(path) as conn:
        (blocks,) = conn.execute("SELECT count(*) FROM slot_blocks WHERE namespace = 'ns'").fetchone()
    assert blocks < 20  # 40 writes, merged into one once past 32
    wanted = [f"caption {e}-{i}" for e in range(40) for i in range(5)] + ["odd \x1d caption", "absent"]
    found = cache.get_many(wanted, "ns")  # whole-namespace read, then rows for what blocks lack
    assert found["caption 0-0"] == "newer" and found["caption 39-4"] == "value 39-4"
    assert found["odd \x1d caption"] == "v\x1dw" and "absent" not in found
    assert all(found[c] == f"value {c[8:]}" for c in wanted[1:200])


def test_an_old_cache_file_is_a_miss_not_an_error(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite"
    with sqlite3.connect(db) as conn:  # the hashed-key table of subcaptions-3 and earlier
        conn.execute("CREATE TABLE parses (key TEXT PRIMARY KEY, value TEXT)")
    assert ParseCache(db).get_many(["a dog"], "ns") == {}
    assert ParseCache(tmp_path / "absent.sqlite").get_many(["a dog"], "ns") == {}
    out = SubCaptioner(cache_path=db).batch(["a dog on a mat"], seed=0)
    assert out[0].positive == "a dog on a mat"
    ParseCache(db).clear()
    with sqlite3.connect(db) as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "parses" not in tables
