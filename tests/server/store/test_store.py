"""The store's own rules, on each database (the ``store`` fixture runs every test on both)."""

import sqlite3
import uuid

import psycopg
import pytest

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind
from loneguard.server.store import AlarmKind, OpenAlarm, RecordCheckin, Worker
from loneguard.server.store.sqlite import DEAD_LETTER_MAX_BYTES, SqliteStore, SqlStore


def integrity_error(store: SqlStore) -> type[Exception]:
    return sqlite3.IntegrityError if isinstance(store, SqliteStore) else psycopg.IntegrityError


def test_audit_log_is_append_only(store: SqlStore) -> None:
    store.append_audit(1, "test", "note", None, {}).result()
    with pytest.raises(integrity_error(store), match="append-only"):
        store.write(lambda conn: conn.execute("UPDATE audit SET actor = 'x'")).result()
    with pytest.raises(integrity_error(store), match="append-only"):
        store.write(lambda conn: conn.execute("DELETE FROM audit")).result()
    assert [a.actor for a in store.audit()] == ["test"]


def test_event_and_effects_are_one_transaction(store: SqlStore, clock: FakeClock) -> None:
    event = Event(str(uuid.uuid4()), EventKind.PANIC, clock.wall_ms(), seq=1)
    # The effect must fail: its table is gone.
    store.write(lambda conn: conn.execute("ALTER TABLE alarms RENAME TO alarms_gone")).result()
    with pytest.raises((sqlite3.OperationalError, psycopg.ProgrammingError)):
        store.record_event("d1", event, clock.wall_ms(), [OpenAlarm(AlarmKind.PANIC)]).result()
    assert store.events() == []  # so the event was not kept either, and will not be acked


def test_checkin_never_moves_backwards_or_into_the_future(
    store: SqlStore, clock: FakeClock
) -> None:
    store.save_worker(Worker("w1", "Ann")).result()
    store.assign_device("d1", "w1").result()
    now = clock.wall_ms()
    for ts in (now - 1000, now + 60_000, now - 5000):  # late, fast clock, older
        event = Event(str(uuid.uuid4()), EventKind.CHECKIN, ts, seq=1)
        store.record_event("d1", event, now, [RecordCheckin()]).result()
    worker = store.worker("w1")
    assert worker is not None and worker.last_checkin_ms == now


def test_dead_letter_payload_is_truncated(store: SqlStore) -> None:
    store.add_dead_letter(1, "t", b"x" * 5000, "too big").result()
    [letter] = store.dead_letters()
    assert (len(letter.payload), letter.payload_size) == (DEAD_LETTER_MAX_BYTES, 5000)


def test_events_received_in_one_millisecond_come_newest_first(
    store: SqlStore, clock: FakeClock
) -> None:
    ids = [str(uuid.uuid4()) for _ in range(5)]
    for i, event_id in enumerate(ids):
        event = Event(event_id, EventKind.CHECKIN, clock.wall_ms(), seq=i)
        store.record_event("d1", event, clock.wall_ms(), []).result()
    assert [e.id for e in store.events()] == ids[::-1]
