"""Store-and-forward: every event is on disk before any network work, until the hub acks it.

One SQLite file in the data folder (WAL, ``synchronous=FULL``: a committed event survives a
power cut). It also keeps the boot counter (the status messages' ``boot``) and the next event
``seq``, so both only ever grow across restarts.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from protocol.messages import Event

FILE_NAME = "outbox.sqlite3"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    body BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


class Outbox:
    """The device's durable queue of unacknowledged events. Safe to share between threads."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection behind one lock: the device writes a handful of rows a day.
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    @classmethod
    def in_folder(cls, data_dir: str | Path) -> Outbox:
        return cls(Path(data_dir) / FILE_NAME)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def begin_boot(self) -> int:
        """Count this start and return its number (1 on the first start)."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            return self._bump("boot")

    def next_seq(self) -> int:
        """Reserve the next event sequence number (0, 1, 2, ...); never handed out twice."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            return self._bump("next_seq") - 1

    def add(self, event: Event) -> None:
        """Keep ``event`` until ``ack``; committed (and synced) when this returns."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR IGNORE INTO pending (seq, id, body) VALUES (?, ?, ?)",
                (event.seq, event.id, event.encode()),
            )

    def ack(self, event_id: str) -> bool:
        """Forget the event with this id; False when it was not pending (a repeated ack)."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            cursor = self._db.execute("DELETE FROM pending WHERE id = ?", (event_id,))
            return cursor.rowcount > 0

    def pending(self) -> list[Event]:
        """Every unacknowledged event, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT body FROM pending ORDER BY seq").fetchall()
        return [Event.decode(bytes(body)) for (body,) in rows]

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT count(*) FROM pending").fetchone()
        return int(n)

    def _bump(self, key: str) -> int:
        self._db.execute("INSERT OR IGNORE INTO state (key, value) VALUES (?, 0)", (key,))
        self._db.execute("UPDATE state SET value = value + 1 WHERE key = ?", (key,))
        (value,) = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return int(value)
