import sqlite3
import uuid

import pytest

from protocol.clock import FakeClock
from protocol.messages import Event, EventKind
from server.store import AlarmKind, OpenAlarm, RecordCheckin, Worker
from server.store.sqlite import DEAD_LETTER_MAX_BYTES, SqliteStore


def test_audit_log_is_append_only(store: SqliteStore) -> None:
    store.append_audit(1, "test", "note", None, {}).result()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.write(lambda conn: conn.execute("UPDATE audit SET actor = 'x'")).result()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        store.write(lambda conn: conn.execute("DELETE FROM audit")).result()
    assert [a.actor for a in store.audit()] == ["test"]


def test_event_and_effects_are_one_transaction(store: SqliteStore, clock: FakeClock) -> None:
    event = Event(str(uuid.uuid4()), EventKind.PANIC, clock.wall_ms(), seq=1)
    store.write(lambda conn: conn.execute("DROP TABLE alarms")).result()  # the effect must fail
    with pytest.raises(sqlite3.OperationalError):
        store.record_event("d1", event, clock.wall_ms(), [OpenAlarm(AlarmKind.PANIC)]).result()
    assert store.events() == []  # so the event was not kept either, and will not be acked


def test_checkin_never_moves_backwards_or_into_the_future(
    store: SqliteStore, clock: FakeClock
) -> None:
    store.save_worker(Worker("w1", "Ann")).result()
    store.assign_device("d1", "w1").result()
    now = clock.wall_ms()
    for ts in (now - 1000, now + 60_000, now - 5000):  # late, fast clock, older
        event = Event(str(uuid.uuid4()), EventKind.CHECKIN, ts, seq=1)
        store.record_event("d1", event, now, [RecordCheckin()]).result()
    worker = store.worker("w1")
    assert worker is not None and worker.last_checkin_ms == now


def test_dead_letter_payload_is_truncated(store: SqliteStore) -> None:
    store.add_dead_letter(1, "t", b"x" * 5000, "too big").result()
    [letter] = store.dead_letters()
    assert (len(letter.payload), letter.payload_size) == (DEAD_LETTER_MAX_BYTES, 5000)
