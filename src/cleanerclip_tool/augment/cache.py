"""On-disk cache of caption parses, so a second run over the same data is near-instant.

One SQLite file in ``resources.cache_dir()``: SQLite's own locking makes it safe when two processes
(e.g. two torchrun ranks) read and write at once. What is stored is the parse (``Slots`` and the
rendered positive as separator-joined fields, "" for a caption that yielded no usable noun), never a
negative: negatives are drawn after loading, from a seeded RNG, so caching does not freeze
randomness. Entries live under a namespace (``CACHE_VERSION``, the spaCy model and version, the word
banks' content hash: bump ``CACHE_VERSION`` whenever the parse-to-slots code or the stored format
changes) and are keyed by the caption text itself: no per-caption hashing.

Every ``put_many`` writes its entries twice, in one transaction: as rows (``slots``: one per
caption, for look-ups of a few captions in a large namespace) and as one *block* (``slot_blocks``:
all of the call's captions and values joined into one text). A run that wants a good share of a
namespace reads its blocks, a handful of rows split at C speed, instead of one row per caption:
SQLite's per-row cost in Python was most of a cached run. Blocks are merged once a namespace has
more than ``_MAX_BLOCKS`` of them (each purify epoch adds one), so reads stay a few rows.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from cleanerclip_tool.resources import cache_dir

CACHE_VERSION = "subcaptions-5"
_TIMEOUT = 60.0  # seconds a connection waits for another's lock
_CHUNK = 900  # below SQLite's default limit of bound parameters
# Read a namespace's blocks when at least this share of their entries is wanted: splitting a
# block costs well under a row look-up per entry.
_FULL_READ_SHARE = 0.25
_ROWS = "slots"  # "parses" (hashed keys) held the formats up to subcaptions-3
_BLOCKS = "slot_blocks"
# Joins a block's captions and values; an entry holding it is kept as a row only (and found there).
_SEP = "\x1d"
_MAX_BLOCKS = 32  # per namespace; beyond this, ``put_many`` merges them
_BLOCK_ENTRIES = 50_000  # entries per block, so that no single text grows without bound


def default_cache_path() -> Path:
    return cache_dir() / "subcaptions.sqlite"


class ParseCache:
    """Get and put encoded parses by (namespace, caption); every call opens its own short connection."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, timeout=_TIMEOUT)
        _use_wal(conn)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {_ROWS} (namespace TEXT NOT NULL, caption TEXT NOT NULL, "
            "value TEXT NOT NULL, PRIMARY KEY (namespace, caption)) WITHOUT ROWID"
        )
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {_BLOCKS} (id INTEGER PRIMARY KEY, namespace TEXT NOT NULL, "
            "entries INTEGER NOT NULL, data TEXT NOT NULL)"
        )
        conn.execute(f"CREATE INDEX IF NOT EXISTS {_BLOCKS}_namespace ON {_BLOCKS} (namespace)")
        return conn

    def get_many(self, captions: Iterable[str], namespace: str = "") -> dict[str, str]:
        """Stored values by caption; a caption not stored is absent (the dict may hold extra captions)."""
        wanted = captions if isinstance(captions, list) else list(captions)
        if not wanted or not self.path.is_file():
            return {}
        conn = sqlite3.connect(self.path, timeout=_TIMEOUT)  # reading needs neither the WAL pragma nor the DDL
        try:
            try:
                (stored,) = conn.execute(
                    f"SELECT coalesce(sum(entries), 0) FROM {_BLOCKS} WHERE namespace = ?", (namespace,)
                ).fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):  # a cache file from before subcaptions-5
                    return {}
                raise
            found: dict[str, str] = {}
            rest = wanted
            if stored and len(wanted) >= _FULL_READ_SHARE * stored:
                found = _read_blocks(conn, namespace)
                rest = [caption for caption in wanted if caption not in found]
            for i in range(0, len(rest), _CHUNK):  # rows: a small share, or entries kept out of blocks
                chunk = rest[i : i + _CHUNK]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT caption, value FROM {_ROWS} WHERE namespace = ? AND caption IN ({marks})"
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
            with conn:  # one transaction: rows and block land together, or neither does
                conn.executemany(
                    f"INSERT OR REPLACE INTO {_ROWS} (namespace, caption, value) VALUES (?, ?, ?)",
                    [(namespace, caption, value) for caption, value in items.items()],
                )
                _add_blocks(conn, namespace, [(c, v) for c, v in items.items() if _SEP not in c and _SEP not in v])
                (blocks,) = conn.execute(f"SELECT count(*) FROM {_BLOCKS} WHERE namespace = ?", (namespace,)).fetchone()
                if blocks > _MAX_BLOCKS:
                    _merge_blocks(conn, namespace)
        finally:
            conn.close()

    def clear(self) -> None:
        """Drop every cached parse (all models, all versions, and the older hashed-key table)."""
        if self.path.exists():
            conn = self._connect()
            try:
                with conn:
                    conn.execute(f"DELETE FROM {_ROWS}")
                    conn.execute(f"DELETE FROM {_BLOCKS}")
                    conn.execute("DROP TABLE IF EXISTS parses")
            finally:
                conn.close()


def _use_wal(conn: sqlite3.Connection) -> None:
    """Put the file in WAL mode (readers never block the writer), retrying while it is locked.

    The mode is stored in the file, so this only changes something once; but that change needs the
    file to itself, and SQLite answers "database is locked" at once instead of waiting out the busy
    timeout when another connection is using a new cache file (several writers starting together).
    """
    deadline = time.monotonic() + _TIMEOUT
    while True:
        try:
            (mode,) = conn.execute("PRAGMA journal_mode").fetchone()
            if str(mode).lower() != "wal":
                conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _add_blocks(conn: sqlite3.Connection, namespace: str, entries: list[tuple[str, str]]) -> None:
    for i in range(0, len(entries), _BLOCK_ENTRIES):
        chunk = entries[i : i + _BLOCK_ENTRIES]
        data = _SEP.join(text for entry in chunk for text in entry)
        conn.execute(
            f"INSERT INTO {_BLOCKS} (namespace, entries, data) VALUES (?, ?, ?)", (namespace, len(chunk), data)
        )


def _read_blocks(conn: sqlite3.Connection, namespace: str) -> dict[str, str]:
    """Every entry of a namespace's blocks (a caption stored twice: its latest value)."""
    entries: dict[str, str] = {}
    for (data,) in conn.execute(f"SELECT data FROM {_BLOCKS} WHERE namespace = ? ORDER BY id", (namespace,)):
        parts = iter(data.split(_SEP))
        entries.update(zip(parts, parts, strict=False))
    return entries


def _merge_blocks(conn: sqlite3.Connection, namespace: str) -> None:
    """Rewrite a namespace's blocks as few large ones, each caption once (inside the caller's transaction)."""
    merged = _read_blocks(conn, namespace)
    conn.execute(f"DELETE FROM {_BLOCKS} WHERE namespace = ?", (namespace,))
    _add_blocks(conn, namespace, list(merged.items()))
