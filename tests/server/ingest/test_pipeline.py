import asyncio
import logging
import threading
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import (
    Ack,
    AckStatus,
    DeviceState,
    Event,
    EventKind,
    Heartbeat,
    Location,
    Status,
)
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.ingest.metrics import Metrics
from loneguard.server.ingest.pipeline import Ingest
from loneguard.server.sessions.rules import session_effects
from loneguard.server.store import AlarmKind, AlarmState, Worker
from loneguard.server.store.sqlite import SqlStore


class FakePublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, int, bool]] = []
        self.fail = False

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> None:
        if self.fail:
            raise ConnectionError("broker gone")
        self.sent.append((topic, payload, qos, retain))

    def acks(self) -> list[tuple[str, Ack]]:
        return [(t, Ack.decode(p)) for t, p, _, _ in self.sent]


def topic(device_id: str, channel: Channel) -> str:
    return str(DeviceTopic(device_id, channel))


def event(kind: EventKind, clock: FakeClock, **extra: Any) -> Event:
    return Event(str(uuid.uuid4()), kind, clock.wall_ms() - 500, seq=1, **extra)


Scenario = Callable[[Ingest], Coroutine[Any, Any, None]]


def run(store: SqlStore, clock: FakeClock, scenario: Scenario) -> tuple[FakePublisher, Metrics]:
    publisher, metrics = FakePublisher(), Metrics()

    async def main() -> None:
        ingest = Ingest(store, publisher, clock, metrics)
        await scenario(ingest)
        await ingest.drain()

    asyncio.run(main())
    return publisher, metrics


def test_checkin_is_stored_acked_and_updates_device_and_worker(
    store: SqlStore, clock: FakeClock
) -> None:
    store.save_worker(Worker("w1", "Ann Example", mobile="+447700900001")).result()
    store.assign_device("d1", "w1").result()
    checkin = event(EventKind.CHECKIN, clock)

    publisher, metrics = run(
        store, clock, lambda i: i.handle(topic("d1", Channel.EVENT), checkin.encode())
    )

    assert publisher.sent == [
        (topic("d1", Channel.ACK), Ack(checkin.id, AckStatus.RECEIVED).encode(), 1, False)
    ]
    [row] = store.events()
    assert (row.id, row.device_id, row.kind, row.ts_ms) == (checkin.id, "d1", "checkin", checkin.ts)
    assert row.received_ms == clock.wall_ms()
    assert row.body == checkin.to_json()
    device, worker = store.device("d1"), store.worker("w1")
    assert device is not None and worker is not None
    assert device.last_checkin_ms == worker.last_checkin_ms == checkin.ts
    assert store.alarms() == []
    assert metrics.events["checkin"] == 1
    assert [a.action for a in store.audit(subject=checkin.id)] == ["event.checkin"]


def test_panic_opens_an_alarm_and_is_acked_help_coming(store: SqlStore, clock: FakeClock) -> None:
    store.save_worker(Worker("w1", "Ann Example")).result()
    store.assign_device("d1", "w1").result()
    panic = event(EventKind.PANIC, clock, location=Location(51.5, -0.1))
    opened = []

    async def scenario(ingest: Ingest) -> None:
        ingest.alarm_listeners.append(opened.append)
        await ingest.handle(topic("d1", Channel.EVENT), panic.encode())

    publisher, _ = run(store, clock, scenario)

    assert publisher.acks() == [(topic("d1", Channel.ACK), Ack(panic.id, AckStatus.HELP_COMING))]
    [alarm] = store.alarms(AlarmState.OPEN)
    assert (alarm.kind, alarm.device_id, alarm.worker_id, alarm.event_id) == (
        AlarmKind.PANIC,
        "d1",
        "w1",
        panic.id,
    )
    assert alarm.opened_ms == clock.wall_ms()
    assert opened == [alarm]


def test_duress_opens_an_alarm_but_is_acked_exactly_like_a_checkin(
    store: SqlStore, clock: FakeClock
) -> None:
    duress, checkin = event(EventKind.DURESS, clock), event(EventKind.CHECKIN, clock)

    async def scenario(ingest: Ingest) -> None:
        await ingest.handle(topic("d1", Channel.EVENT), duress.encode())
        await ingest.handle(topic("d1", Channel.EVENT), checkin.encode())

    publisher, _ = run(store, clock, scenario)

    [(_, duress_ack), (_, checkin_ack)] = publisher.acks()
    assert duress_ack.status == checkin_ack.status == AckStatus.RECEIVED
    assert [a.kind for a in store.alarms()] == [AlarmKind.DURESS]


def test_duplicate_id_is_stored_once_and_acked_every_time(
    store: SqlStore, clock: FakeClock
) -> None:
    panic = event(EventKind.PANIC, clock)

    async def scenario(ingest: Ingest) -> None:
        await ingest.handle(topic("d1", Channel.EVENT), panic.encode())
        await ingest.drain()
        await ingest.handle(topic("d1", Channel.EVENT), panic.encode())
        await ingest.handle(topic("d1", Channel.EVENT), panic.encode())  # same batch, too

    publisher, metrics = run(store, clock, scenario)

    assert [a for _, a in publisher.acks()] == [Ack(panic.id, AckStatus.HELP_COMING)] * 3
    assert len(store.events()) == 1
    assert len(store.alarms()) == 1
    assert (metrics.events["panic"], metrics.duplicates) == (1, 2)


async def handle_behind_a_busy_writer(
    store: SqlStore, ingest: Ingest, messages: list[tuple[str, Event]]
) -> None:
    """Hand ingest each (device, event) while the store's writer is busy with a long
    transaction, then let it go; returns once every one is stored and acked."""
    started, gate = threading.Event(), threading.Event()

    def hold(conn: object) -> None:
        started.set()
        gate.wait(10)

    held = store.write(hold)
    assert started.wait(10)
    for device_id, e in messages:
        await ingest.handle(topic(device_id, Channel.EVENT), e.encode())
    gate.set()
    await ingest.drain()
    held.result(10)


def test_a_panic_behind_a_backlog_of_checkins_is_stored_and_acked_first(
    store: SqlStore, clock: FakeClock
) -> None:
    checkins = [event(EventKind.CHECKIN, clock) for _ in range(300)]
    panic = event(EventKind.PANIC, clock)
    publisher = FakePublisher()

    async def main() -> None:
        # Fewer in flight than the backlog: the panic must not wait for a slot either.
        ingest = Ingest(store, publisher, clock, Metrics(), max_in_flight=50)
        backlog = [("d1", e) for e in checkins]
        await handle_behind_a_busy_writer(store, ingest, [*backlog, ("d2", panic)])

    asyncio.run(main())

    acks = [a for _, a in publisher.acks()]
    assert acks[0] == Ack(panic.id, AckStatus.HELP_COMING)
    assert {a.ref for a in acks[1:]} == {e.id for e in checkins}
    # Committed first too: its audit line comes before every check-in's.
    lines = sorted(store.audit(limit=1000), key=lambda line: line.id)
    events = [line.subject for line in lines if line.action.startswith("event.")]
    assert events[0] == panic.id and len(events) == 301


def test_a_panic_takes_its_own_device_s_session_start_ahead_with_it(
    store: SqlStore, clock: FakeClock
) -> None:
    """Behind a backlog, the session start a unit sent just before its panic is stored ahead
    with the panic, not after the backlog: the alarm belongs to the visit (where the worker is)."""
    store.save_worker(Worker(id="w-ann", name="Ann")).result()
    store.assign_device("d2", "w-ann").result()
    checkins = [event(EventKind.CHECKIN, clock) for _ in range(300)]
    start = event(EventKind.SESSION_START, clock, minutes=30)
    panic = event(EventKind.PANIC, clock)
    publisher = FakePublisher()

    async def main() -> None:
        ingest = Ingest(
            store,
            publisher,
            clock,
            Metrics(),
            max_in_flight=50,
            extra_effects=lambda e: session_effects(e, 300, 300),
        )
        backlog = [("d1", e) for e in checkins]
        await handle_behind_a_busy_writer(store, ingest, [*backlog, ("d2", start), ("d2", panic)])

    asyncio.run(main())

    session = store.live_session("d2")
    assert session is not None
    (alarm,) = [a for a in store.alarms() if a.kind == AlarmKind.PANIC]
    assert alarm.session_id == session.id
    assert next(a for _, a in publisher.acks()) == Ack(panic.id, AckStatus.HELP_COMING)
    lines = sorted(store.audit(limit=1000), key=lambda line: line.id)
    events = [line.subject for line in lines if line.action.startswith("event.")]
    assert events[:2] == [start.id, panic.id] and len(events) == 302


def test_many_events_in_flight_share_group_commits(store: SqlStore, clock: FakeClock) -> None:
    events = [event(EventKind.CHECKIN, clock) for _ in range(200)]

    async def scenario(ingest: Ingest) -> None:
        for e in events:
            await ingest.handle(topic("d1", Channel.EVENT), e.encode())

    publisher, _ = run(store, clock, scenario)

    assert {a.ref for _, a in publisher.acks()} == {e.id for e in events}
    assert store.writer.batches < 200


def test_status_from_an_older_boot_is_ignored(store: SqlStore, clock: FakeClock) -> None:
    now = clock.wall_ms()
    online = Status(DeviceState.ONLINE, boot=7, fw="1.2.0", ts=now)
    late_will = Status(DeviceState.OFFLINE, boot=6)

    async def scenario(ingest: Ingest) -> None:
        await ingest.handle(topic("d1", Channel.STATUS), online.encode())
        await ingest.handle(topic("d1", Channel.STATUS), late_will.encode())

    publisher, metrics = run(store, clock, scenario)

    device = store.device("d1")
    assert device is not None
    assert (device.online, device.boot, device.fw) == (True, 7, "1.2.0")
    assert metrics.stale_statuses == 1
    assert publisher.sent == []  # status is never acked

    same_boot_will = Status(DeviceState.OFFLINE, boot=7, reason="link lost")
    run(store, clock, lambda i: i.handle(topic("d1", Channel.STATUS), same_boot_will.encode()))
    device = store.device("d1")
    assert device is not None and (device.online, device.fw) == (False, "1.2.0")


def test_heartbeat_updates_device_health(store: SqlStore, clock: FakeClock) -> None:
    beat = Heartbeat(ts=clock.wall_ms(), uptime=12.5, rssi=-71, battery=88, queued=3)
    run(store, clock, lambda i: i.handle(topic("d1", Channel.HEARTBEAT), beat.encode()))
    device = store.device("d1")
    assert device is not None
    assert (device.rssi, device.battery, device.queued) == (-71, 88, 3)
    assert device.last_heartbeat_ms == clock.wall_ms()


@pytest.mark.parametrize(
    "where, payload, field",
    [
        (topic("d1", Channel.EVENT), b"not json", "event"),
        (topic("d1", Channel.EVENT), b'{"v":1,"id":"x","kind":"panic"}', "event"),
        (topic("d1", Channel.STATUS), b'{"state":"sleepy","boot":1}', "status"),
        (topic("d1", Channel.HEARTBEAT), b"\xff\xfe", "heartbeat"),
        ("loneguard/v1/dev/d1/ack", b"{}", "topic"),
        ("loneguard/v1/dev/d1/bogus", b"{}", "topic"),
        ("elsewhere/d1/event", b"{}", "topic"),
    ],
)
def test_bad_messages_become_dead_letters_and_are_counted(
    store: SqlStore,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
    where: str,
    payload: bytes,
    field: str,
) -> None:
    publisher, metrics = run(store, clock, lambda i: i.handle(where, payload))
    assert publisher.sent == []
    assert metrics.rejected_total == 1 and metrics.rejected[field] == 1
    [letter] = store.dead_letters()
    assert (letter.topic, letter.payload_size) == (where, len(payload))
    expected = payload.hex() if letter.payload_encoding == "hex" else payload.decode()
    assert letter.payload == expected and letter.reason
    assert store.events() == []
    assert any("rejected" in r.message for r in caplog.records if r.levelno == logging.WARNING)


def test_rejection_logs_never_carry_the_payload(
    store: SqlStore, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    secret = b'{"v":1,"note":"Flat 2, 10 Example Road, 07700 900123"}'
    run(store, clock, lambda i: i.handle(topic("d1", Channel.EVENT), secret))
    assert "Example Road" not in caplog.text and "900123" not in caplog.text


def test_an_ack_that_cannot_be_sent_is_counted_and_sent_on_redelivery(
    store: SqlStore, clock: FakeClock
) -> None:
    checkin = event(EventKind.CHECKIN, clock)
    publisher, metrics = FakePublisher(), Metrics()

    async def main() -> None:
        ingest = Ingest(store, publisher, clock, metrics)
        publisher.fail = True
        await ingest.handle(topic("d1", Channel.EVENT), checkin.encode())
        await ingest.drain()
        publisher.fail = False
        await ingest.handle(topic("d1", Channel.EVENT), checkin.encode())
        await ingest.drain()

    asyncio.run(main())
    assert metrics.ack_failures == 1
    assert [a.ref for _, a in publisher.acks()] == [checkin.id]
    assert len(store.events()) == 1


def test_a_checkin_stamped_on_an_unsynced_clock_counts_from_its_arrival(
    store: SqlStore, clock: FakeClock
) -> None:
    # A Pi before NTP: fake-hwclock's time from its last shutdown, days ago.
    store.save_worker(Worker("w1", "Ann Example", mobile="+447700900001")).result()
    store.assign_device("d1", "w1").result()
    stale = Event(str(uuid.uuid4()), EventKind.CHECKIN, clock.wall_ms() - 3 * 86_400_000, 1)
    store.record_event("d1", stale, clock.wall_ms() - 3 * 86_400_000, ()).result()  # an old one
    checkin = Event(
        str(uuid.uuid4()), EventKind.CHECKIN, clock.wall_ms() - 2 * 86_400_000, 2, unsynced=True
    )
    run(store, clock, lambda i: i.handle(topic("d1", Channel.EVENT), checkin.encode()))
    row = next(r for r in store.events() if r.id == checkin.id)
    assert row.ts_ms == row.received_ms == clock.wall_ms()
    worker = store.worker("w1")
    assert worker is not None and worker.last_checkin_ms == clock.wall_ms()
