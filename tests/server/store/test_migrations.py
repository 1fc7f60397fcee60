import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from loneguard.protocol.messages import Event, EventKind
from loneguard.server.store.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    SQLITE,
    SchemaTooNew,
    migrate,
)
from loneguard.server.store.sql import Connection
from loneguard.server.store.sqlite import SqliteStore, SqlStore, connect

TABLES = {
    "schema_version",
    "workers",
    "devices",
    "events",
    "alarms",
    "dead_letters",
    "audit",
    "api_tokens",
    "sessions",
    "register",
    "notifications",
    "console_users",
    "risk_assessments",
    "incidents",
    "incident_actions",
    "console_logins",
    "visit_plans",
    "visit_records",
    "calendar_feeds",
    "arrangement_copies",
    "signal_spots",
    "session_shift_types",
    "arc_messages",
    "arc_attempts",
    "arc_counters",
    "arc_zones",
    "arc_link",
}


def tables(path: Path) -> set[str]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    return {r[0] for r in rows} - {"sqlite_sequence"}


def test_versions_are_numbered_in_order() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))


def test_from_empty_then_reopen_is_a_no_op(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    conn = connect(path)
    assert migrate(conn, 1000) == [m.version for m in MIGRATIONS]
    assert migrate(conn, 2000) == []
    rows = conn.execute("SELECT version, applied_ms FROM schema_version").fetchall()
    conn.close()
    assert rows == [(m.version, 1000) for m in MIGRATIONS]
    assert tables(path) == TABLES


def test_store_opens_durable_and_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    store = SqliteStore(path, now_ms=lambda: 5)
    store.append_audit(5, "test", "note", None, {"a": 1}).result(timeout=5)
    store.close()
    store = SqliteStore(path, now_ms=lambda: 6)
    try:
        assert [a.action for a in store.audit()] == ["note"]
        # The store's reader becomes public with the schema change (console tables in the store).
        with store.read() as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    finally:
        store.close()


def test_refuses_a_database_from_a_newer_hub(tmp_path: Path) -> None:
    conn = connect(tmp_path / "hub.db")
    migrate(conn, 1)
    conn.execute(
        "INSERT INTO schema_version VALUES (?, 'from the future', 2)", (LATEST_VERSION + 1,)
    )
    with pytest.raises(SchemaTooNew):
        migrate(conn, 3)
    conn.close()


def test_version_2_upgrades_a_version_1_database_in_place(tmp_path: Path) -> None:
    path = tmp_path / "hub.db"
    conn = connect(path)
    for statement in MIGRATIONS[0].statements:
        conn.execute(statement)
    conn.execute(
        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
        " applied_ms INTEGER NOT NULL)"
    )
    conn.execute("INSERT INTO schema_version VALUES (1, 'v1', 1)")
    conn.execute("INSERT INTO workers (id, name, mobile) VALUES ('w1', 'Ann', '+447700900001')")
    assert migrate(conn, 2) == [m.version for m in MIGRATIONS[1:]]
    conn.close()
    store = SqliteStore(path, now_ms=lambda: 3)
    try:
        worker = store.worker("w1")
        assert worker is not None
        assert (worker.name, worker.apprise_urls, worker.policy) == ("Ann", (), None)
        assert store.sessions() == [] and store.notifications() == []
    finally:
        store.close()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_version_5_keys_events_by_device_and_keeps_them(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A version 4 database with events: after the upgrade they are all there, in the same
    order, each with its path as its history, and the id stays refused to other devices."""
    opened: Callable[[], Connection]
    dialect = SQLITE
    if database == "sqlite":
        path = tmp_path / "hub.db"
        opened = lambda: connect(path)  # noqa: E731
        store_of: Callable[[], SqlStore] = lambda: SqliteStore(path, now_ms=lambda: 9)  # noqa: E731
    else:
        from loneguard.server.store import postgres
        from loneguard.server.store.pg_migrations import POSTGRES

        url = request.getfixturevalue("pg_url")
        opened, dialect = (lambda: postgres.connect(url)), POSTGRES
        store_of = lambda: postgres.PostgresStore(url, now_ms=lambda: 9)  # noqa: E731
    conn = opened()
    assert migrate(conn, 1, replace(dialect, steps=dialect.steps[:4])) == [1, 2, 3, 4]
    ids = [str(uuid.uuid4()) for _ in range(3)]
    for n, event_id in enumerate(ids):  # all in one millisecond: only insertion orders them
        conn.execute(
            "INSERT INTO events (id, device_id, kind, ts_ms, seq, link, received_ms, body)"
            " VALUES (?, 'd1', 'checkin', 5, ?, ?, 5, '{}')",
            (event_id, n, "sms" if n == 1 else "mqtt"),
        )
    assert migrate(conn, 2, replace(dialect, steps=dialect.steps[:5])) == [5]
    conn.close()
    store = store_of()
    try:
        rows = store.events()
        assert [(e.id, e.seq, e.link, e.links) for e in rows] == [
            (ids[2], 2, "mqtt", ("mqtt",)),
            (ids[1], 1, "sms", ("sms",)),
            (ids[0], 0, "mqtt", ("mqtt",)),
        ]
        other = Event(ids[0], EventKind.CHECKIN, 6, seq=1)
        outcome = store.record_event("d2", other, 6, ()).result()
        assert outcome.inserted  # the key is (device, id): d2's id is d2's own event
        assert sorted(e.device_id for e in store.events() if e.id == ids[0]) == ["d1", "d2"]
        fresh = store.record_event(
            "d2", Event(str(uuid.uuid4()), EventKind.CHECKIN, 7, seq=0), 7, ()
        )
        assert fresh.result().inserted
    finally:
        store.close()
