"""Store-and-forward: every event is on disk before any network work, until the hub acks it.

One SQLite file in the data folder (WAL, ``synchronous=FULL``: a committed event survives a
power cut). It also keeps the boot counter (the status messages' ``boot``) and the next event
``seq``, so both only ever grow across restarts, small pieces of device state (signed in), and
which alarms already went out by SMS (so each goes at most once, across restarts too).

A damaged file (SD-card corruption: not a database, or a database whose pages are garbage) is
renamed ``outbox.sqlite3.corrupt-<UTC time>`` at start and a fresh one begun, so the unit starts
and works; ``moved_aside`` says where it went, for the log, the service status and the heartbeat.

The outbox holds at most ``max_events``: past it, the oldest non-alarm events are dropped. Panic
and duress are never dropped, so the limit may be exceeded by alarms alone.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from pathlib import Path

from loneguard.protocol.messages import Event, EventKind

log = logging.getLogger(__name__)

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
CREATE TABLE IF NOT EXISTS sms_sent (
    id TEXT PRIMARY KEY
);
"""

DEFAULT_MAX_EVENTS = 1000
ALARM_KINDS = (EventKind.PANIC, EventKind.DURESS)


class Outbox:
    """The device's durable queue of unacknowledged events. Safe to share between threads."""

    def __init__(self, path: str | Path, *, max_events: int = DEFAULT_MAX_EVENTS) -> None:
        if max_events < 1:
            raise ValueError("max_events must be at least 1")
        self.path = Path(path)
        self.max_events = max_events
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # One connection behind one lock: the device writes a handful of rows a day.
        self._lock = threading.Lock()
        # Where a damaged file was moved this start (None: the file was sound).
        self.moved_aside: Path | None = None
        try:
            self._db = self._open()
        except sqlite3.DatabaseError as exc:
            self.moved_aside = self._move_aside(exc)
            self._db = self._open()
            # The boot counter went with the damaged file. Start it at the wall clock's seconds,
            # above any count a unit reaches by restarting, so the hub does not take this
            # boot's status for a stale one from an earlier boot.
            with self._db:
                self._db.execute(
                    "INSERT INTO state (key, value) VALUES ('boot', ?)", (int(time.time()),)
                )

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            (verdict,) = db.execute("PRAGMA quick_check").fetchone()
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"quick_check: {str(verdict)[:120]}")
            db.executescript(_SCHEMA)
            db.execute("SELECT count(*) FROM pending").fetchone()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _move_aside(self, exc: sqlite3.DatabaseError) -> Path:
        """Rename the damaged file (and its WAL and shared-memory files) out of the way."""
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}")
        for suffix in ("-wal", "-shm"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                side.replace(target.with_name(target.name + suffix))
        self.path.replace(target)
        log.error(
            "outbox %s is damaged (%s): moved to %s and started a fresh one; events not yet "
            "acknowledged in it are not sent",
            self.path,
            exc,
            target.name,
        )
        return target

    @classmethod
    def in_folder(cls, data_dir: str | Path, *, max_events: int = DEFAULT_MAX_EVENTS) -> Outbox:
        return cls(Path(data_dir) / FILE_NAME, max_events=max_events)

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

    def add(self, event: Event) -> list[str]:
        """Keep ``event`` until ``ack``; committed (and synced) when this returns.

        Returns the ids of the events dropped to stay within ``max_events`` (usually none).
        """
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT OR IGNORE INTO pending (seq, id, body) VALUES (?, ?, ?)",
                (event.seq, event.id, event.encode()),
            )
            dropped = self._trim()
        if dropped:
            log.warning("outbox full: dropped %d unacknowledged non-alarm events", len(dropped))
        return dropped

    def _trim(self) -> list[str]:
        (n,) = self._db.execute("SELECT count(*) FROM pending").fetchone()
        excess = int(n) - self.max_events
        if excess <= 0:
            return []
        alarms = ",".join(f"'{kind}'" for kind in ALARM_KINDS)
        rows = self._db.execute(
            "SELECT seq, id FROM pending"
            f" WHERE json_extract(CAST(body AS TEXT), '$.kind') NOT IN ({alarms})"
            " ORDER BY seq LIMIT ?",
            (excess,),
        ).fetchall()
        self._db.executemany("DELETE FROM pending WHERE seq = ?", [(seq,) for seq, _ in rows])
        return [str(event_id) for _, event_id in rows]

    def ack(self, event_id: str) -> bool:
        """Forget the event with this id; False when it was not pending (a repeated ack)."""
        return self.take(event_id) is not None

    def take(self, event_id: str) -> Event | None:
        """Forget the event with this id and return it; None when it was not pending."""
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            row = self._db.execute("SELECT body FROM pending WHERE id = ?", (event_id,)).fetchone()
            if row is None:
                return None
            self._db.execute("DELETE FROM pending WHERE id = ?", (event_id,))
            self._db.execute("DELETE FROM sms_sent WHERE id = ?", (event_id,))
        return Event.decode(bytes(row[0]))

    def is_pending(self, event_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM pending WHERE id = ?", (event_id,)).fetchone()
        return row is not None

    def mark_sms_sent(self, event_id: str) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("INSERT OR IGNORE INTO sms_sent (id) VALUES (?)", (event_id,))

    def sms_sent(self, event_id: str) -> bool:
        with self._lock:
            row = self._db.execute("SELECT 1 FROM sms_sent WHERE id = ?", (event_id,)).fetchone()
        return row is not None

    def get_state(self, key: str, default: int = 0) -> int:
        with self._lock:
            row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return default if row is None else int(row[0])

    def set_state(self, key: str, value: int) -> None:
        with self._lock, self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "INSERT INTO state (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

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
