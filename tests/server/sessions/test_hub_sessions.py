"""Sessions through the whole hub on a fake clock: a real private Mosquitto, a raw paho device,
HTTP, and recording notification channels."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import (
    Ack,
    AckStatus,
    Command,
    CommandOp,
    DeviceState,
    Event,
    EventKind,
    Status,
)
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.admin.tokens import hash_token, new_token
from loneguard.server.config import load_config
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread
from loneguard.server.store import AlarmKind, Role, SessionState
from tests.server.runtime_fakes import Sent, recording_tap
from tests.server.test_hub import TIMEOUT, wait_until

DEVICE = "d-sess"


class RawDevice:
    """Publishes as the device and listens on its ack and cmd topics."""

    def __init__(self, broker: Mosquitto) -> None:
        self.acks: queue.Queue[Ack] = queue.Queue()
        self.commands: queue.Queue[Command] = queue.Queue()
        subscribed: queue.Queue[bool] = queue.Queue()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=DEVICE)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: subscribed.put(True)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe(
            [(str(DeviceTopic(DEVICE, Channel.ACK)), 1), (str(DeviceTopic(DEVICE, Channel.CMD)), 1)]
        )
        subscribed.get(timeout=TIMEOUT)
        self.seq = 0

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        if message.topic.endswith("/cmd"):
            self.commands.put(Command.decode(message.payload))
        else:
            self.acks.put(Ack.decode(message.payload))

    def send(self, kind: EventKind, ts: int, minutes: int | None = None) -> Ack:
        self.seq += 1
        event = Event(str(uuid.uuid4()), kind, ts, seq=self.seq, minutes=minutes)
        topic = str(DeviceTopic(DEVICE, Channel.EVENT))
        self.client.publish(topic, event.encode(), qos=1).wait_for_publish(TIMEOUT)
        ack = self.acks.get(timeout=TIMEOUT)
        assert ack.ref == event.id
        return ack

    def status(self, state: DeviceState, ts: int) -> None:
        payload = Status(state, boot=1, fw="1.0.0", ts=ts).encode()
        topic = str(DeviceTopic(DEVICE, Channel.STATUS))
        self.client.publish(topic, payload, qos=1, retain=True).wait_for_publish(TIMEOUT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def sent() -> list[Sent]:
    return []


@pytest.fixture
def hub(
    mosquitto: Mosquitto, tmp_path: Path, clock: FakeClock, sent: list[Sent]
) -> Iterator[HubThread]:
    config = load_config(
        env={
            "LONEGUARD_MQTT_URL": mosquitto.url,
            "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
            "LONEGUARD_REQUIRE_PROVISIONED": "false",
            "LONEGUARD_DB_URL": f"sqlite:///{tmp_path / 'hub.db'}",
            "LONEGUARD_HTTP": "127.0.0.1:0",
        }
    )
    thread = HubThread(config, clock, tap=recording_tap(clock, sent)).start()
    try:
        yield thread
    finally:
        thread.stop()


def test_a_device_session_prealerts_over_mqtt_and_a_checkin_ends_it(
    hub: HubThread, mosquitto: Mosquitto, clock: FakeClock, sent: list[Sent]
) -> None:
    token = new_token()
    hub.store.create_token("Office", Role.ADMIN, hash_token(token), 1).result()
    auth = {"Authorization": f"Bearer {token}"}
    device = RawDevice(mosquitto)
    try:
        assert device.send(EventKind.SESSION_START, clock.wall_ms(), minutes=10).status == (
            AckStatus.RECEIVED
        )
        (session,) = httpx.get(f"{hub.http_url}/api/sessions", headers=auth).json()
        assert (session["kind"], session["device_id"], session["state"]) == (
            "visit",
            DEVICE,
            "active",
        )
        assert device.commands.empty()

        clock.advance(5 * 60)  # 5 minutes before the end: the default pre-alert
        command = device.commands.get(timeout=TIMEOUT)
        assert (command.op, command.due_ts) == (CommandOp.PREALERT, session["expected_end_ms"])

        device.send(EventKind.CHECKIN, clock.wall_ms())
        wait_until(lambda: hub.store.sessions()[0].state == SessionState.ENDED)
        clock.advance(30 * 60)
        assert hub.store.alarms() == []
        assert sent == []
    finally:
        device.close()


def test_a_last_will_during_a_session_opens_device_offline(
    hub: HubThread, mosquitto: Mosquitto, clock: FakeClock, sent: list[Sent]
) -> None:
    device = RawDevice(mosquitto)
    try:
        device.status(DeviceState.ONLINE, clock.wall_ms())
        device.send(EventKind.SESSION_START, clock.wall_ms(), minutes=60)
        device.status(DeviceState.OFFLINE, clock.wall_ms())
        wait_until(lambda: len(hub.store.alarms()) == 1)
        (alarm,) = hub.store.alarms()
        assert alarm.kind == AlarmKind.DEVICE_OFFLINE
        wait_until(lambda: len(sent) == 1)
        assert (sent[0].channel, sent[0].role) == ("console", "console")
    finally:
        device.close()


def test_the_console_stream_needs_a_token_and_carries_alarms(
    hub: HubThread, mosquitto: Mosquitto, clock: FakeClock
) -> None:
    assert httpx.get(f"{hub.http_url}/api/stream").status_code == 401
    token = new_token()
    hub.store.create_token("Screen", Role.VIEWER, hash_token(token), 1).result()
    auth = {"Authorization": f"Bearer {token}"}
    device = RawDevice(mosquitto)
    try:
        with httpx.stream(
            "GET", f"{hub.http_url}/api/stream", headers=auth, timeout=TIMEOUT
        ) as stream:
            assert stream.headers["content-type"].startswith("text/event-stream")
            wait_until(
                lambda: (
                    hub.hub.services is not None and hub.hub.services.broadcaster.subscribers == 1
                )
            )
            device.send(EventKind.DURESS, clock.wall_ms())
            frames: list[str] = []
            for line in stream.iter_lines():
                frames.append(line)
                if line.startswith("data:") and '"state":"open"' in line:
                    break
        data = [f for f in frames if f.startswith("data:")][-1]
        assert '"kind":"duress"' in data
        assert "code word" in data  # the console's guidance for a covert alarm
    finally:
        device.close()
