"""The MQTT link against a real private Mosquitto (the ``mosquitto`` fixture)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from loneguard.device.config import Config
from loneguard.device.link import ModemReport, MqttLink
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import (
    Ack,
    Command,
    CommandOp,
    DeviceState,
    Event,
    EventKind,
    Heartbeat,
    HubStatus,
    Status,
    new_event_id,
)
from loneguard.protocol.topics import HUB_STATUS_TOPIC, Channel, DeviceTopic
from loneguard.server.devtools.private_broker import Mosquitto
from tests.device.helpers import WAIT, Observer, RecordingListener, make_config

STATUS = str(DeviceTopic("unit-01", Channel.STATUS))
EVENT = str(DeviceTopic("unit-01", Channel.EVENT))
ACK = str(DeviceTopic("unit-01", Channel.ACK))
CMD = str(DeviceTopic("unit-01", Channel.CMD))
HEARTBEAT = str(DeviceTopic("unit-01", Channel.HEARTBEAT))


def event(seq: int) -> Event:
    return Event(id=new_event_id(), kind=EventKind.CHECKIN, ts=1_767_225_600_000, seq=seq)


@pytest.fixture
def link_config(tmp_path: Path, mosquitto: Mosquitto) -> Config:
    return make_config(
        tmp_path,
        mqtt={"url": mosquitto.url, "reconnect_max_delay": 1},
        timing={"heartbeat_interval": 10},
    )


@pytest.fixture
def observer(mosquitto: Mosquitto) -> Iterator[Observer]:
    obs = Observer(mosquitto.url, [STATUS, EVENT, HEARTBEAT], client_id="test-hub")
    yield obs
    obs.close()


def start(config: Config, clock: FakeClock, listener: RecordingListener, boot: int) -> MqttLink:
    link = MqttLink(config, clock)
    link.start(listener, boot)
    assert listener.up.wait(WAIT), "the link did not connect"
    return link


def test_online_status_on_connect_and_offline_with_reason_on_stop(
    link_config: Config, clock: FakeClock, observer: Observer
) -> None:
    link = start(link_config, clock, RecordingListener(), boot=7)
    online = Status.decode(observer.next_payload(STATUS))
    assert (online.state, online.boot, online.fw, online.ts) == (
        DeviceState.ONLINE,
        7,
        "0.1.0",
        clock.wall_ms(),
    )
    link.stop("maintenance")
    offline = Status.decode(observer.next_payload(STATUS))
    assert offline == Status(DeviceState.OFFLINE, 7, reason="maintenance")


def test_the_status_is_retained(
    link_config: Config, clock: FakeClock, mosquitto: Mosquitto
) -> None:
    link = start(link_config, clock, RecordingListener(), boot=3)
    late = Observer(mosquitto.url, [STATUS])  # subscribes after the device connected
    try:
        message = late.next(STATUS)
        assert message.retain
        assert Status.decode(bytes(message.payload)).boot == 3
    finally:
        late.close()
        link.stop("done")


def test_last_will_is_offline_of_this_boot_when_the_connection_dies(
    link_config: Config, clock: FakeClock, observer: Observer
) -> None:
    link = start(link_config, clock, RecordingListener(), boot=12)
    assert Status.decode(observer.next_payload(STATUS)).state == DeviceState.ONLINE
    link.abort()  # the socket closes without a DISCONNECT, as in a power cut
    assert Status.decode(observer.next_payload(STATUS)) == Status(DeviceState.OFFLINE, 12)


def test_events_and_acks(link_config: Config, clock: FakeClock, observer: Observer) -> None:
    pending = event(0)
    listener = RecordingListener([pending])
    link = start(link_config, clock, listener, boot=1)
    assert Event.decode(observer.next_payload(EVENT)) == pending  # republished on connect
    fresh = event(1)
    link.publish_event(fresh)
    message = observer.next(EVENT)
    assert (Event.decode(bytes(message.payload)), message.qos, message.retain) == (fresh, 1, False)

    observer.publish(ACK, b"{not json")  # rejected and logged; the link carries on
    observer.publish(ACK, Ack(pending.id).encode())
    assert listener.acks.get(timeout=WAIT) == Ack(pending.id)
    command = Command(new_event_id(), CommandOp.PING)
    observer.publish(CMD, command.encode())
    assert listener.commands.get(timeout=WAIT) == command
    link.stop("done")


def test_hub_status_is_tracked(link_config: Config, clock: FakeClock, observer: Observer) -> None:
    observer.publish(HUB_STATUS_TOPIC, HubStatus(DeviceState.ONLINE, 5).encode(), retain=True)
    listener = RecordingListener()
    link = start(link_config, clock, listener, boot=1)
    assert listener.hub.get(timeout=WAIT) == HubStatus(DeviceState.ONLINE, 5)
    assert link.hub_online is True
    observer.publish(HUB_STATUS_TOPIC, HubStatus(DeviceState.OFFLINE).encode(), retain=True)
    assert listener.hub.get(timeout=WAIT).state == DeviceState.OFFLINE
    assert link.hub_online is False
    link.stop("done")


def test_a_hub_announcing_itself_gets_the_unacked_events_again(
    link_config: Config, clock: FakeClock, observer: Observer
) -> None:
    """A live ``online`` on ``hub/status`` (a hub back, or one answering another's last will)
    makes the device send its unacked events again: a copy held for a dead hub's session then
    reaches a live hub. The retained copy each connect brings does not: the connect sent them."""
    observer.publish(HUB_STATUS_TOPIC, HubStatus(DeviceState.ONLINE, 5).encode(), retain=True)
    unacked = event(0)
    listener = RecordingListener([unacked])
    link = start(link_config, clock, listener, boot=1)
    assert listener.hub.get(timeout=WAIT) == HubStatus(DeviceState.ONLINE, 5)  # the retained one
    assert Event.decode(observer.next_payload(EVENT)) == unacked  # sent by the connect
    observer.publish(HUB_STATUS_TOPIC, HubStatus(DeviceState.OFFLINE).encode(), retain=True)
    assert listener.hub.get(timeout=WAIT).state == DeviceState.OFFLINE
    observer.publish(HUB_STATUS_TOPIC, HubStatus(DeviceState.ONLINE, 6).encode(), retain=True)
    assert listener.hub.get(timeout=WAIT) == HubStatus(DeviceState.ONLINE, 6)
    assert Event.decode(observer.next_payload(EVENT)) == unacked  # sent again, clock unmoved
    fresh = event(1)
    link.publish_event(fresh)
    # In order on the one connection: no other copy came between (none for the retained
    # status, none for the offline one).
    assert Event.decode(observer.next_payload(EVENT)) == fresh
    listener.pending = []
    observer.publish(HUB_STATUS_TOPIC, HubStatus(DeviceState.ONLINE, 7).encode(), retain=True)
    assert listener.hub.get(timeout=WAIT) == HubStatus(DeviceState.ONLINE, 7)
    link.publish_event(fresh)
    assert Event.decode(observer.next_payload(EVENT)) == fresh  # nothing unacked: nothing sent
    link.stop("done")


def test_heartbeats_follow_the_injected_clock(
    link_config: Config, clock: FakeClock, observer: Observer
) -> None:
    listener = RecordingListener([event(0), event(1)])
    link = start(link_config, clock, listener, boot=1)
    clock.advance(10.0)
    message = observer.next(HEARTBEAT)
    assert message.qos == 0
    beat = Heartbeat.decode(bytes(message.payload))
    # The broker is on this machine: no radio carries the traffic.
    assert beat == Heartbeat(ts=clock.wall_ms(), uptime=10.0, queued=2, bearer="wired")
    clock.advance(10.0)
    assert Heartbeat.decode(observer.next_payload(HEARTBEAT)).uptime == 20.0
    link.stop("done")
    assert clock.pending() == 0


def test_heartbeats_carry_the_modem_report_and_a_replaced_outbox(
    link_config: Config, clock: FakeClock, observer: Observer
) -> None:
    listener = RecordingListener()
    listener.modem = ModemReport(rssi=-73, registered=True, health="recovering")
    listener.replaced = True  # this boot found its outbox damaged and began a new one
    link = start(link_config, clock, listener, boot=1)
    clock.advance(10.0)
    beat = Heartbeat.decode(observer.next_payload(HEARTBEAT))
    assert (beat.rssi, beat.registered, beat.modem) == (-73, True, "recovering")
    assert beat.outbox_reset is True
    link.stop("done")


def test_events_made_offline_are_published_after_reconnect(
    tmp_path: Path, clock: FakeClock, mosquitto: Mosquitto
) -> None:
    config = make_config(tmp_path, mqtt={"url": mosquitto.url, "reconnect_max_delay": 1})
    observer = Observer(mosquitto.url, [EVENT], client_id="durable-hub")
    listener = RecordingListener()
    link = start(config, clock, listener, boot=1)
    try:
        mosquitto.stop()
        assert listener.down.wait(WAIT)
        assert not link.connected
        made_offline = event(0)
        listener.pending.append(made_offline)  # what the app's outbox does
        link.publish_event(made_offline)  # not connected: left to the outbox
        mosquitto.start()
        assert listener.up.wait(WAIT), "the link did not reconnect"
        assert Event.decode(observer.next_payload(EVENT)) == made_offline
    finally:
        link.stop("done")
        observer.close()


def test_app_round_trip_over_the_broker(
    link_config: Config, clock: FakeClock, observer: Observer
) -> None:
    from loneguard.device.firmware import DeviceApp
    from loneguard.device.simulator import ClockedMockFactory

    factory = ClockedMockFactory(clock)
    app = DeviceApp(link_config, pin_factory=factory, clock=clock)
    acked = threading.Event()
    handle_ack = app.on_ack

    def on_ack(ack: Ack) -> None:  # the ack arrives on the link's thread
        handle_ack(ack)
        acked.set()

    app.on_ack = on_ack  # type: ignore[method-assign]
    app.start()
    try:
        assert Status.decode(observer.next_payload(STATUS)).boot == 1
        factory.pin(17).drive_low()
        factory.pin(17).drive_high()
        clock.advance(0.6)  # the duress window: no second press, so a check-in
        sent = Event.decode(observer.next_payload(EVENT))
        assert sent.kind == EventKind.CHECKIN
        assert app.outbox.count() == 1
        observer.publish(ACK, Ack(sent.id).encode())
        assert acked.wait(WAIT)
        assert app.outbox.count() == 0
        assert app.feedback.current == "acknowledged"
    finally:
        app.stop("test over")
    assert Status.decode(observer.next_payload(STATUS)).reason == "test over"


def test_each_reconnect_attempt_waits_a_random_jitter_that_a_stop_cuts_short(
    tmp_path: Path, clock: FakeClock, mosquitto: Mosquitto
) -> None:
    config = make_config(tmp_path, mqtt={"url": mosquitto.url, "reconnect_max_delay": 1})
    pauses: list[float] = []
    pausing = threading.Event()

    def jitter() -> float:
        pauses.append(0.05 if len(pauses) < 2 else 60.0)  # the third is long: stop must cut it
        if len(pauses) == 3:
            pausing.set()
        return pauses[-1]

    listener = RecordingListener()
    link = MqttLink(config, clock, jitter=jitter)
    link.start(listener, 1)
    assert listener.up.wait(WAIT)
    assert pauses == []  # a first connect that works waits for nothing
    mosquitto.stop()
    assert listener.down.wait(WAIT)
    assert pausing.wait(WAIT), "the link did not pause before its reconnect attempts"
    assert pauses == [0.05, 0.05, 60.0]  # the disconnect, then each failed attempt
    stopper = threading.Thread(target=link.stop, args=("done",))
    stopper.start()
    stopper.join(WAIT)
    assert not stopper.is_alive(), "a stop waited out the jitter"


def test_the_default_jitter_is_at_most_the_first_reconnect_delay(
    tmp_path: Path, clock: FakeClock
) -> None:
    config = make_config(tmp_path, mqtt={"reconnect_min_delay": 2, "reconnect_max_delay": 8})
    link = MqttLink(config, clock)
    draws = [link.jitter() for _ in range(200)]
    assert all(0.0 <= d <= 2.0 for d in draws)
    assert len({round(d, 3) for d in draws}) > 100  # random, not one fixed pause
