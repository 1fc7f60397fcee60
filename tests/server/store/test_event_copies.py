"""One event id arriving twice: by the SMS fallback line and over MQTT, in either order, or from
two devices. Through the real ingest, on both databases (the ``store`` fixture)."""

from __future__ import annotations

import uuid

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Ack, AckStatus, Event, EventKind, Link, Location
from loneguard.protocol.sms import FallbackLine
from loneguard.protocol.topics import Channel
from loneguard.server.ingest.pipeline import Ingest
from loneguard.server.store import AlarmKind
from loneguard.server.store.sqlite import SqlStore
from tests.server.ingest.test_pipeline import run, topic

EVENT_TOPIC = topic("d1", Channel.EVENT)
ACK_TOPIC = topic("d1", Channel.ACK)


def panic_copies(clock: FakeClock) -> tuple[Event, Event]:
    """The same press as the hub gets it by SMS (no seq, no location) and over MQTT."""
    mqtt = Event(
        str(uuid.uuid4()),
        EventKind.PANIC,
        clock.wall_ms() - 500,
        seq=7,
        location=Location(51.5, -0.1, 12.0),
    )
    sms = FallbackLine("d1", EventKind.PANIC, mqtt.id, mqtt.ts).to_event()
    return sms, mqtt


def test_the_mqtt_copy_completes_an_event_first_stored_from_its_sms_line(
    store: SqlStore, clock: FakeClock
) -> None:
    sms, mqtt = panic_copies(clock)
    first_ms = clock.wall_ms()

    async def scenario(ingest: Ingest) -> None:
        await ingest.handle(EVENT_TOPIC, sms.encode())
        await ingest.drain()
        clock.advance(40)  # the MQTT copy comes once the hub is reachable again
        await ingest.handle(EVENT_TOPIC, mqtt.encode())
        await ingest.drain()
        await ingest.handle(EVENT_TOPIC, mqtt.encode())

    publisher, metrics = run(store, clock, scenario)

    [row] = store.events()
    assert (row.id, row.seq, row.link, row.links) == (mqtt.id, 7, "sms", ("sms", "mqtt"))
    assert row.body["location"] == {"lat": 51.5, "lon": -0.1, "acc": 12.0}
    assert row.received_ms == first_ms  # when help was first asked for
    [alarm] = store.alarms()  # one alarm, opened by the SMS line
    assert (alarm.kind, alarm.event_id, alarm.opened_ms) == (AlarmKind.PANIC, mqtt.id, first_ms)
    # Every copy is acked as usual, so the device's outbox lets the event go.
    assert publisher.acks() == [(ACK_TOPIC, Ack(mqtt.id, AckStatus.HELP_COMING))] * 3
    completions = [a for a in store.audit(subject=mqtt.id) if a.action == "event.completed"]
    assert [(a.actor, a.detail) for a in completions] == [
        (
            "device:d1",
            {
                "link": "mqtt",
                "links": ["sms", "mqtt"],
                "seq": {"from": 0, "to": 7},
                "location": True,
            },
        )
    ]  # the redelivery after it changed nothing
    assert (metrics.events_completed, metrics.duplicates) == (1, 2)


def test_an_sms_line_after_the_mqtt_copy_is_only_added_to_the_history(
    store: SqlStore, clock: FakeClock
) -> None:
    sms, mqtt = panic_copies(clock)

    async def scenario(ingest: Ingest) -> None:
        await ingest.handle(EVENT_TOPIC, mqtt.encode())
        await ingest.drain()
        await ingest.handle(EVENT_TOPIC, sms.encode())

    publisher, _ = run(store, clock, scenario)

    [row] = store.events()
    assert (row.seq, row.link, row.links) == (7, "mqtt", ("mqtt", "sms"))
    assert row.body == mqtt.to_json()
    assert len(store.alarms()) == 1
    assert len(publisher.acks()) == 2
    [completed] = [a for a in store.audit(subject=mqtt.id) if a.action == "event.completed"]
    assert completed.detail == {"link": "sms", "links": ["mqtt", "sms"]}


def test_the_same_id_from_another_device_is_that_devices_own_event(
    store: SqlStore, clock: FakeClock
) -> None:
    """Ids are each device's own: a device that learns another's id can neither block the other
    device's event (stored first) nor take it (stored after)."""
    mine = Event(str(uuid.uuid4()), EventKind.PANIC, clock.wall_ms(), seq=3, link=Link.MQTT)
    theirs = Event(mine.id, EventKind.CHECKIN, clock.wall_ms(), seq=1)
    theirs_topic = topic("d2", Channel.EVENT)

    async def scenario(ingest: Ingest) -> None:
        await ingest.handle(theirs_topic, theirs.encode())  # the other device first
        await ingest.drain()
        await ingest.handle(EVENT_TOPIC, mine.encode())
        await ingest.drain()
        await ingest.handle(EVENT_TOPIC, mine.encode())  # the owner's redelivery

    publisher, metrics = run(store, clock, scenario)

    stored = sorted((e.device_id, e.kind, e.seq) for e in store.events())
    assert stored == [("d1", "panic", 3), ("d2", "checkin", 1)]
    assert [a.kind for a in store.alarms()] == ["panic"]
    assert (store.alarms()[0].device_id, store.alarms()[0].event_id) == ("d1", mine.id)
    acks = publisher.acks()
    assert acks.count((ACK_TOPIC, Ack(mine.id, AckStatus.HELP_COMING))) == 2
    assert store.dead_letters() == []
    assert metrics.rejected == {}
