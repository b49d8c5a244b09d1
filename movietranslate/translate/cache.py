"""A per-line translation cache (SQLite, one committed row per finished line).

The key of a line is the hash of its source text, its context (neighbours, speaker,
synopsis), its glossary terms, its length budget, the backend and model, the target
language and :data:`~movietranslate.translate.base.PROMPT_VERSION`. Each line is committed
as soon as it is finished, so a run that dies (a server killed mid-batch, Ctrl-C) loses no
finished line and the next run completes only the rest.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from ..workspace import stable_hash
from .base import PROMPT_VERSION, LineRequest


def line_key(req: LineRequest, *, identity: str, source: str, target: str, extra=None) -> str:
    return stable_hash("line", PROMPT_VERSION, identity, source, target, req.text, req.before,
                       req.after, req.speaker, req.gender, req.max_units, sorted(req.terms),
                       req.synopsis, req.variant, extra)


class TranslationCache:
    """``get(key) -> dict | None`` and ``put(key, value)``, safe across threads and processes."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as c:
            c.execute("CREATE TABLE IF NOT EXISTS lines (key TEXT PRIMARY KEY, value TEXT NOT NULL, "
                      "created REAL NOT NULL)")
        self.hits = 0
        self.misses = 0

    def _conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None:
            c = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            c.execute("PRAGMA journal_mode=WAL")
            c.execute("PRAGMA synchronous=NORMAL")
            self._local.conn = c
        return c

    def get(self, key: str) -> dict | None:
        row = self._conn().execute("SELECT value FROM lines WHERE key=?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, key: str, value: dict) -> None:
        self._conn().execute("INSERT OR REPLACE INTO lines (key, value, created) VALUES (?,?,?)",
                             (key, json.dumps(value, ensure_ascii=False), time.time()))

    def __len__(self) -> int:
        return int(self._conn().execute("SELECT COUNT(*) FROM lines").fetchone()[0])

    def close(self) -> None:
        c = getattr(self._local, "conn", None)
        if c is not None:
            c.close()
            self._local.conn = None


class MemoryCache:
    """The same interface, in memory (for library use without a workspace)."""

    def __init__(self):
        self._d: dict[str, dict] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key):
        with self._lock:
            v = self._d.get(key)
            if v is None:
                self.misses += 1
            else:
                self.hits += 1
            return v

    def put(self, key, value):
        with self._lock:
            self._d[key] = dict(value)

    def __len__(self):
        return len(self._d)
