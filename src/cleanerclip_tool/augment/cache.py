"""On-disk cache of caption parses, so a second run over the same data is near-instant.

One SQLite file in ``resources.cache_dir()``: SQLite's own locking makes it safe when two processes
(e.g. two torchrun ranks) read and write at once. What is stored is the parse (``Slots`` and the
rendered positive as separator-joined fields, "" for a caption that yielded no usable noun), never a
negative: negatives are drawn after loading, from a seeded RNG, so caching does not freeze
randomness. Keys hash the caption with a namespace of the spaCy model and version, the word banks'
content hash and ``CACHE_VERSION`` (bump
it whenever the parse-to-slots code changes what it produces).
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

from cleanerclip_tool.resources import cache_dir

CACHE_VERSION = "subcaptions-3"
_CHUNK = 900  # below SQLite's default limit of bound parameters


def default_cache_path() -> Path:
    return cache_dir() / "subcaptions.sqlite"


def cache_key(namespace: str, caption: str) -> str:
    return hashlib.blake2b(f"{namespace}\0{caption}".encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


class ParseCache:
    """Get and put encoded parses by key; every call opens its own short connection."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        conn.execute("CREATE TABLE IF NOT EXISTS parses (key TEXT PRIMARY KEY, value TEXT)")
        return conn

    def get_many(self, keys: Iterable[str]) -> dict[str, str]:
        keys = list(dict.fromkeys(keys))
        found: dict[str, str] = {}
        if not keys:
            return found
        conn = self._connect()
        try:
            for i in range(0, len(keys), _CHUNK):
                chunk = keys[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                found.update(conn.execute(f"SELECT key, value FROM parses WHERE key IN ({marks})", chunk))
        finally:
            conn.close()
        return found

    def put_many(self, items: Mapping[str, str]) -> None:
        if not items:
            return
        conn = self._connect()
        try:
            with conn:
                conn.executemany("INSERT OR REPLACE INTO parses (key, value) VALUES (?, ?)", items.items())
        finally:
            conn.close()

    def clear(self) -> None:
        """Drop every cached parse (all models, all versions)."""
        if self.path.exists():
            conn = self._connect()
            try:
                with conn:
                    conn.execute("DELETE FROM parses")
            finally:
                conn.close()
