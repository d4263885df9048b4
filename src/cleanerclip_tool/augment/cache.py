"""On-disk cache of caption parses, so a second run over the same data is near-instant.

One SQLite file in ``resources.cache_dir()``: SQLite's own locking makes it safe when two processes
(e.g. two torchrun ranks) read and write at once. What is stored is the parse (``Slots`` and the
rendered positive as separator-joined fields, "" for a caption that yielded no usable noun), never a
negative: negatives are drawn after loading, from a seeded RNG, so caching does not freeze
randomness. Rows are keyed by a namespace (``CACHE_VERSION``, the spaCy model and version, the word
banks' content hash: bump ``CACHE_VERSION`` whenever the parse-to-slots code or the stored format
changes) and the caption text itself: no per-caption hashing, and a run that wants most of a
namespace reads all of it in one ``SELECT`` instead of thousands of key look-ups.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Mapping
from pathlib import Path

from cleanerclip_tool.resources import cache_dir

CACHE_VERSION = "subcaptions-4"
_CHUNK = 900  # below SQLite's default limit of bound parameters
# Read the whole namespace when at least this share of its rows is wanted: one sequential SELECT
# beats bound-parameter look-ups long before every row is needed.
_FULL_READ_SHARE = 0.25
_TABLE = "slots"  # "parses" (hashed keys) held the formats up to subcaptions-3


def default_cache_path() -> Path:
    return cache_dir() / "subcaptions.sqlite"


class ParseCache:
    """Get and put encoded parses by (namespace, caption); every call opens its own short connection."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=60)
        conn.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {_TABLE} (namespace TEXT NOT NULL, caption TEXT NOT NULL, "
            "value TEXT NOT NULL, PRIMARY KEY (namespace, caption)) WITHOUT ROWID"
        )
        return conn

    def get_many(self, captions: Iterable[str], namespace: str = "") -> dict[str, str]:
        """Stored values by caption; a caption not stored is absent (the dict may hold extra captions)."""
        wanted = list(dict.fromkeys(captions))
        if not wanted:
            return {}
        if not self.path.is_file():
            return {}
        conn = sqlite3.connect(self.path, timeout=60)  # reading needs neither the WAL pragma nor the DDL
        try:
            try:
                (stored,) = conn.execute(f"SELECT count(*) FROM {_TABLE} WHERE namespace = ?", (namespace,)).fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # a cache file from before subcaptions-4
                    return {}
                raise
            if not stored:
                return {}
            if len(wanted) >= _FULL_READ_SHARE * stored:
                return dict(conn.execute(f"SELECT caption, value FROM {_TABLE} WHERE namespace = ?", (namespace,)))
            found: dict[str, str] = {}
            for i in range(0, len(wanted), _CHUNK):
                chunk = wanted[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT caption, value FROM {_TABLE} WHERE namespace = ? AND caption IN ({marks})"
                found.update(conn.execute(query, [namespace, *chunk]))
            return found
        finally:
            conn.close()

    def put_many(self, items: Mapping[str, str], namespace: str = "") -> None:
        """Store ``caption -> value`` under ``namespace`` (replacing what was there)."""
        if not items:
            return
        conn = self._connect()
        try:
            with conn:
                conn.executemany(
                    f"INSERT OR REPLACE INTO {_TABLE} (namespace, caption, value) VALUES (?, ?, ?)",
                    [(namespace, caption, value) for caption, value in items.items()],
                )
        finally:
            conn.close()

    def clear(self) -> None:
        """Drop every cached parse (all models, all versions, and the older hashed-key table)."""
        if self.path.exists():
            conn = self._connect()
            try:
                with conn:
                    conn.execute(f"DELETE FROM {_TABLE}")
                    conn.execute("DROP TABLE IF EXISTS parses")
            finally:
                conn.close()
