"""The hub's database refuses writes: locked by another connection, or full.

Nothing may be acked that is not stored (an ack makes the device forget the event), the log
must say what is wrong, and once the fault clears the devices' resends get everything stored,
once. Disk full is SQLite's own SQLITE_FULL, raised by ``max_page_count`` on the hub's writer
connection: the same error, from the same place, as a full filesystem.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Ack, EventKind
from loneguard.server.hub import HubThread
from loneguard.server.store import sqlite as sqlite_store
from loneguard.server.store.sqlite import SqliteStore
from tests.faults.harness import OutboxDevice, beat_until_empty, count_delivery, wait_until

DEVICES = 2
BEFORE, DURING = 10, 30


def stored_ids(store: SqliteStore) -> set[str]:
    return {row.id for row in store.events(limit=1_000_000)}


def run_fault(
    hub: HubThread,
    devices: list[OutboxDevice],
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    *,
    label: str,
    fault_on: Callable[[], None],
    fault_off: Callable[[], None],
    error_text: str,
) -> None:
    store = hub.store
    assert isinstance(store, SqliteStore)
    acked_unstored: list[str] = []

    def check_stored(ack: Ack) -> None:  # runs before the device forgets the event
        if ack.ref not in stored_ids(store):
            acked_unstored.append(ack.ref)

    for device in devices:
        device.ack_listeners.append(check_stored)
    wait_until(lambda: all(d.link.connected for d in devices), "the devices to connect")
    for i in range(BEFORE):
        devices[i % DEVICES].make(EventKind.CHECKIN)
    beat_until_empty(devices, clock, timeout=30)

    fault_on()
    caplog.clear()
    for i in range(DURING):
        devices[i % DEVICES].make(EventKind.PANIC if i % 5 == 0 else EventKind.CHECKIN)
    metrics = hub.hub.metrics
    wait_until(lambda: metrics.store_failures > 0, "a store failure")
    clock.advance(devices[0].heartbeat_interval)  # resends run into the fault too
    wait_until(lambda: error_text in caplog.text, "the error in the log")
    waiting = sum(len(d.outbox.pending()) for d in devices)
    assert waiting > 0, "the fault refused nothing: the test did not test"
    failed_events = [
        r for r in caplog.records if r.levelno >= logging.ERROR and "could not store event" in r.msg
    ]
    assert failed_events, "no log line says which event could not be stored"

    fault_off()
    beat_until_empty(devices, clock, timeout=60)

    sent = [e for d in devices for e in d.made]
    total, received, duplicates = count_delivery(store, sent, label=label)
    unstored = len(acked_unstored)
    print(f"{label}: waiting during the fault={waiting}, acked but not stored={unstored}")
    assert acked_unstored == [], "acked an event that was not stored"
    assert received == total == BEFORE + DURING, "events lost"
    assert duplicates == 0, "events doubled"


def test_disk_full_acks_nothing_unstored_and_recovers(
    fault_hub: HubThread,
    make_devices: Callable[[int], list[OutboxDevice]],
    devices_clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = fault_hub.store
    assert isinstance(store, SqliteStore)

    def fill() -> None:
        def cap(conn: sqlite3.Connection) -> None:
            pages = conn.execute("PRAGMA page_count").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count={int(pages)}")

        store.write(cap).result(timeout=10)

    def free() -> None:
        # It queues behind resends in the writer; when one of them fills the disk first, SQLite
        # rolls the whole batch back, this item with it: try again, as an operator would.
        for _ in range(20):
            try:
                store.write(lambda c: c.execute("PRAGMA max_page_count=1073741823")).result(30)
                return
            except sqlite3.OperationalError as exc:
                assert "full" in str(exc)
        raise AssertionError("the disk never came back")

    run_fault(
        fault_hub,
        make_devices(DEVICES),
        devices_clock,
        caplog,
        label="disk full",
        fault_on=fill,
        fault_off=free,
        error_text="database or disk is full",
    )


def test_database_locked_acks_nothing_unstored_and_recovers(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    request: pytest.FixtureRequest,
    make_devices: Callable[[int], list[OutboxDevice]],
    devices_clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # The hub waits this long for a lock before the write fails (30 s in production).
    monkeypatch.setattr(sqlite_store, "BUSY_TIMEOUT_S", 0.5)
    hub: HubThread = request.getfixturevalue("fault_hub")
    blocker = sqlite3.connect(tmp_path / "hub.db", isolation_level=None, timeout=10)

    try:
        run_fault(
            hub,
            make_devices(DEVICES),
            devices_clock,
            caplog,
            label="database locked",
            fault_on=lambda: blocker.execute("BEGIN IMMEDIATE"),  # another writer holds the lock
            fault_off=lambda: blocker.execute("ROLLBACK"),
            error_text="database is locked",
        )
    finally:
        blocker.close()
