"""Seeded draws for the negatives: one splitmix64 stream per (seed, caption), order-independent.

``CaptionStream`` is the reference: splitmix64 seeded by a 64-bit hash of (seed, caption). Its k-th
output depends only on the start state plus k times a constant, so a batch can compute the first
few outputs of every caption's stream at once with numpy's wrapping uint64 arithmetic
(``prefetch_draws``); ``PrefetchedStream`` serves them and continues with the reference arithmetic
past them. Same numbers, without Python's 128-bit intermediate integers on every draw, which had
become the largest cost of a cached sub-caption.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

_MASK64 = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_MUL1 = 0xBF58476D1CE4E5B9
_MUL2 = 0x94D049BB133111EB
PREFETCH = 4  # outputs computed ahead per caption: what the inline negative paths read (op, which, two draws)


def start_state(seed: int, caption: str) -> int:
    """The stream's start: CRC-32 and Adler-32 of the UTF-8 caption (stable across processes)."""
    data = caption.encode("utf-8", "surrogatepass")
    return ((zlib.crc32(data) << 32) | zlib.adler32(data)) ^ ((seed * _GAMMA) & _MASK64)


def _mix(z: int) -> int:
    z = ((z ^ (z >> 30)) * _MUL1) & _MASK64
    z = ((z ^ (z >> 27)) * _MUL2) & _MASK64
    return z ^ (z >> 31)


class CaptionStream:
    """Deterministic draws for one caption (the reference implementation).

    ``random.Random(...)`` costs several microseconds to construct; this offers the two calls the
    negatives use (``randrange``, ``choice``). A caption's draws depend on neither batch order nor
    cache, nor on PYTHONHASHSEED.
    """

    __slots__ = ("state",)

    def __init__(self, seed: int, caption: str) -> None:
        self.state = start_state(seed, caption)

    def next64(self) -> int:
        self.state = (self.state + _GAMMA) & _MASK64
        return _mix(self.state)

    def randrange(self, n: int) -> int:
        """An int in ``[0, n)`` (modulo bias below 1e-15 for word-bank sizes)."""
        return self.next64() % n

    def choice(self, seq: Sequence):
        return seq[self.next64() % len(seq)]


def prefetch_draws(seed: int, captions: Sequence[str], k: int = PREFETCH) -> list[list[int]]:
    """The first ``k`` ``next64`` outputs of each caption's stream, computed for all captions at once."""
    return draw_matrix(seed, captions, k).tolist()


def draw_matrix(seed: int, captions: Sequence[str], k: int = PREFETCH) -> np.ndarray:
    """``prefetch_draws`` as an ``(n, k)`` uint64 array, for callers that reduce it with numpy first."""
    import numpy as np

    n = len(captions)
    out = np.empty((n, k), dtype=np.uint64)
    if not n:
        return out
    data = [c.encode("utf-8", "surrogatepass") for c in captions]
    crc = np.fromiter(map(zlib.crc32, data), dtype=np.uint64, count=n)
    adler = np.fromiter(map(zlib.adler32, data), dtype=np.uint64, count=n)
    state = ((crc << np.uint64(32)) | adler) ^ np.uint64((seed * _GAMMA) & _MASK64)
    for j in range(k):
        z = state + np.uint64(((j + 1) * _GAMMA) & _MASK64)  # arrays wrap modulo 2**64 silently
        z = (z ^ (z >> np.uint64(30))) * np.uint64(_MUL1)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(_MUL2)
        out[:, j] = z ^ (z >> np.uint64(31))
    return out


class PrefetchedStream:
    """``CaptionStream``'s draws for one caption, served from ``prefetch_draws`` while they last.

    One object is reused for a whole batch (``reset`` per caption); past the prefetched outputs it
    recomputes the stream's state from the caption, exactly as ``CaptionStream`` would have it.
    """

    __slots__ = ("caption", "draws", "i", "seed")

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.draws: list[int] = []
        self.i = 0
        self.caption = ""

    def reset(self, caption: str, draws: list[int]) -> PrefetchedStream:
        self.caption, self.draws, self.i = caption, draws, 0
        return self

    def prefetch_more(self) -> None:
        """Append the stream's next ``PREFETCH`` outputs (a negative that needed many draws)."""
        state = start_state(self.seed, self.caption)
        k = len(self.draws)
        self.draws.extend([_mix((state + (k + j + 1) * _GAMMA) & _MASK64) for j in range(PREFETCH)])

    def next64(self) -> int:
        i = self.i
        self.i = i + 1
        if i < len(self.draws):
            return self.draws[i]
        return _mix((start_state(self.seed, self.caption) + (i + 1) * _GAMMA) & _MASK64)

    def randrange(self, n: int) -> int:
        i = self.i
        self.i = i + 1
        if i < len(self.draws):
            return self.draws[i] % n
        return _mix((start_state(self.seed, self.caption) + (i + 1) * _GAMMA) & _MASK64) % n

    def choice(self, seq: Sequence):
        return seq[self.randrange(len(seq))]
