"""PostgreSQL's own parts: its migrations match SQLite's step for step, hubs starting together
migrate once, a batch that loses a deadlock to another hub's writer is run again, the store
reconnects after the server drops it, a ladder step's rows are created once across hubs, and an
event id is kept by one device even when two hubs store it for two devices at once."""

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest

from loneguard.protocol.messages import Event, EventKind
from loneguard.server.store import AlarmKind, NewNotification, OpenAlarm
from loneguard.server.store.migrations import MIGRATIONS
from loneguard.server.store.pg_migrations import PG_MIGRATIONS
from loneguard.server.store.postgres import PostgresStore, connect, is_transient
from loneguard.server.store.sql import Connection
from loneguard.server.store.sqlite_notifications import add_notifications
from loneguard.server.store.writer import Writer
from tests.server.store.test_migrations import TABLES


def test_steps_match_sqlite_step_for_step() -> None:
    assert [(m.version, m.description) for m in PG_MIGRATIONS] == [
        (m.version, m.description) for m in MIGRATIONS
    ]


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
    return {r[0] for r in rows}


def test_hubs_starting_together_migrate_once(pg_url: str) -> None:
    with ThreadPoolExecutor(4) as pool:
        stores = list(pool.map(lambda _: PostgresStore(pg_url, now_ms=lambda: 7), range(4)))
    for store in stores:
        store.close()
    assert tables(pg_url) == TABLES
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT version, applied_ms FROM schema_version ORDER BY 1").fetchall()
    assert rows == [(m.version, 7) for m in PG_MIGRATIONS]


def test_a_deadlocked_batch_is_run_again(pg_url: str) -> None:
    store = PostgresStore(pg_url, now_ms=lambda: 1)  # for the schema
    store.close()
    setup = connect(pg_url)
    setup.execute("INSERT INTO workers (id, name) VALUES ('a', 'A'), ('b', 'B')")
    setup.close()
    # Two writers (two hubs) each lock one row, then want the other's: PostgreSQL kills one
    # transaction (after its deadlock_timeout, 1 s by default); its writer runs the batch again.
    holds = {"a": threading.Event(), "b": threading.Event()}

    def cross(first: str, second: str):  # type: ignore[no-untyped-def]
        def run(conn: Connection) -> str:
            conn.execute("UPDATE workers SET mobile = ? WHERE id = ?", (first, first))
            holds[first].set()
            assert holds[second].wait(10)
            conn.execute("UPDATE workers SET mobile = ? WHERE id = ?", (first, second))
            return first

        return run

    writers = [
        Writer(lambda: connect(pg_url), begin="BEGIN", retryable=is_transient) for _ in range(2)
    ]
    try:
        one = writers[0].submit(cross("a", "b"))
        two = writers[1].submit(cross("b", "a"))
        assert {one.result(timeout=30), two.result(timeout=30)} == {"a", "b"}
        assert writers[0].retries + writers[1].retries == 1
    finally:
        for w in writers:
            w.close()


def test_the_store_reconnects_after_the_server_drops_it(pg_url: str) -> None:
    store = PostgresStore(pg_url, now_ms=lambda: 1)
    try:
        store.append_audit(1, "test", "before", None, {}).result(timeout=10)
        writer_pid = store.write(
            lambda conn: conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        ).result(timeout=10)
        # The store's reader becomes public with the schema change (console tables in the store).
        with store.read() as conn:
            reader_pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]
        admin = connect(pg_url)
        for pid in (writer_pid, reader_pid):  # as a server restart would
            admin.execute("SELECT pg_terminate_backend(?)", (pid,))
        admin.close()
        lost = store.append_audit(2, "test", "lost", None, {})
        with pytest.raises(psycopg.OperationalError):
            lost.result(timeout=10)  # the caller hears it: nothing is acked that was not stored
        with pytest.raises(psycopg.OperationalError):
            store.ping()
        store.append_audit(3, "test", "after", None, {}).result(timeout=10)
        assert [a.action for a in store.audit()] == ["after", "before"]  # newest first
    finally:
        store.close()


def test_a_ladder_step_is_created_once_across_hubs(pg_url: str) -> None:
    hub_a = PostgresStore(pg_url, now_ms=lambda: 1)
    hub_b = PostgresStore(pg_url, now_ms=lambda: 1)
    try:
        event = Event(str(uuid.uuid4()), EventKind.PANIC, 1, seq=1)
        outcome = hub_a.record_event("d1", event, 1, [OpenAlarm(AlarmKind.PANIC)]).result()
        alarm_id = outcome.alarms[0].id
        rows = [
            NewNotification(
                f"{alarm_id}:0:0:admins:config:Office:{c}",
                "a:0:0",
                0,
                0,
                c,
                "Office",
                "admins",
                "config:Office",
                "Panic",
            )
            for c in ("console", "sms")
        ]
        # Hub A writes the step and holds its transaction open; hub B writes the same step.
        written, go_on = threading.Event(), threading.Event()

        def a_writes(conn: Connection) -> int:
            created = add_notifications(conn, alarm_id, rows, None, 2)
            written.set()
            assert go_on.wait(10)
            return len(created or [])

        a_result = hub_a.write(a_writes)
        assert written.wait(10)
        b_result = hub_b.add_notifications(alarm_id, rows, None, 3)  # waits on A's rows
        go_on.set()
        created_by = (a_result.result(timeout=10), len(b_result.result(timeout=10) or []))
        print(f"\none step of 2 notifications written by two hubs at once: created {created_by}")
        assert created_by == (2, 0)
        assert len(hub_b.notifications(alarm_id)) == 2
    finally:
        hub_a.close()
        hub_b.close()


def test_one_event_handed_to_two_hubs_at_once_is_stored_once(pg_url: str) -> None:
    """Hub A stores d1's event and holds its transaction open; hub B gets a redelivered copy of
    the same event meanwhile. B's insert waits for A's, then finds it: one event, one alarm."""
    hub_a = PostgresStore(pg_url, now_ms=lambda: 1)
    hub_b = PostgresStore(pg_url, now_ms=lambda: 1)
    try:
        event = Event(str(uuid.uuid4()), EventKind.PANIC, 1, seq=1)
        stored, go_on = threading.Event(), threading.Event()

        def a_stores(conn: Connection) -> None:
            # Reading its answer: the writer pipelines statements, so only then has it run.
            conn.execute(
                "INSERT INTO events (id, device_id, kind, ts_ms, seq, link, received_ms, body,"
                " links) VALUES (?, 'd1', 'panic', 1, 1, 'mqtt', 1, '{}', 'mqtt') RETURNING id",
                (event.id,),
            ).fetchone()
            stored.set()
            assert go_on.wait(10)

        a_result = hub_a.write(a_stores)
        assert stored.wait(10)
        b_result = hub_b.record_event("d1", event, 2, [OpenAlarm(AlarmKind.PANIC)])
        go_on.set()
        a_result.result(timeout=10)
        outcome = b_result.result(timeout=10)
        assert (outcome.inserted, outcome.alarms) == (False, ())
        assert [(e.device_id, e.id) for e in hub_b.events()] == [("d1", event.id)]
        assert hub_b.alarms() == []
    finally:
        hub_a.close()
        hub_b.close()


def test_a_failing_item_of_a_pipelined_batch_fails_alone(pg_url: str) -> None:
    """The batch runs pipelined without savepoints; one item failing sends it round again the
    careful way: the others are committed, the failing one alone hears its error."""
    store = PostgresStore(pg_url, now_ms=lambda: 1)
    started, gate = threading.Event(), threading.Event()

    def hold(conn: Connection) -> None:
        started.set()
        assert gate.wait(10)

    def save(name: str):  # type: ignore[no-untyped-def]
        def run(conn: Connection) -> int:
            conn.execute("INSERT INTO workers (id, name) VALUES (?, ?)", (name, name))
            return int(conn.execute("SELECT count(*) FROM workers").fetchone()[0])

        return run

    try:
        held = store.write(hold)
        assert started.wait(10)
        first, twice, last = store.write(save("a")), store.write(save("a")), store.write(save("b"))
        gate.set()
        held.result(10)
        assert (first.result(10), last.result(10)) == (1, 2)
        with pytest.raises(psycopg.errors.UniqueViolation):
            twice.result(10)
        assert sorted(w.id for w in store.workers()) == ["a", "b"]
    finally:
        store.close()
