"""The hub end to end against a real private Mosquitto, driven by a raw paho client."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest

from loneguard.protocol.messages import Ack, AckStatus, DeviceState, Event, EventKind, HubStatus
from loneguard.protocol.topics import HUB_STATUS_TOPIC, Channel, DeviceTopic
from loneguard.server.admin.tokens import hash_token, new_token
from loneguard.server.config import HubConfig, load_config
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread
from loneguard.server.store import Role

TIMEOUT = 10.0


class Device:
    """A raw paho client standing in for a device: publishes events, collects acks."""

    def __init__(self, broker: Mosquitto, device_id: str) -> None:
        self.device_id = device_id
        self.acks: queue.Queue[Ack] = queue.Queue()
        self.hub_status: queue.Queue[HubStatus] = queue.Queue()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=device_id)
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *_: self._subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.client.subscribe(
            [(str(DeviceTopic(device_id, Channel.ACK)), 1), (HUB_STATUS_TOPIC, 1)]
        )
        assert self._subscribed.wait(TIMEOUT)

    def _on_message(self, _c: object, _u: object, message: mqtt.MQTTMessage) -> None:
        if message.topic == HUB_STATUS_TOPIC:
            self.hub_status.put(HubStatus.decode(message.payload))
        else:
            self.acks.put(Ack.decode(message.payload))

    def publish(self, payload: bytes, channel: Channel = Channel.EVENT) -> None:
        info = self.client.publish(str(DeviceTopic(self.device_id, channel)), payload, qos=1)
        info.wait_for_publish(TIMEOUT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def sqlite_hub_config(mosquitto: Mosquitto, tmp_path: Path) -> HubConfig:
    return load_config(
        env={
            "LONEGUARD_MQTT_URL": mosquitto.url,
            "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
            "LONEGUARD_REQUIRE_PROVISIONED": "false",
            "LONEGUARD_DB_URL": f"sqlite:///{tmp_path / 'hub.db'}",
            "LONEGUARD_HTTP": "127.0.0.1:0",
        }
    )


@pytest.fixture
def hub(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[HubThread]:
    thread = HubThread(sqlite_hub_config(mosquitto, tmp_path)).start()
    try:
        yield thread
    finally:
        thread.stop()


def wait_until(predicate: object, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.01)


def test_panic_over_real_mqtt(hub: HubThread, mosquitto: Mosquitto) -> None:
    token = new_token()
    hub.store.create_token("Office", Role.ADMIN, hash_token(token), 1).result()
    auth = {"Authorization": f"Bearer {token}"}
    device = Device(mosquitto, "dev-panic")
    try:
        assert device.hub_status.get(timeout=TIMEOUT).state == DeviceState.ONLINE  # retained
        panic = Event(str(uuid.uuid4()), EventKind.PANIC, int(time.time() * 1000), seq=1)

        device.publish(panic.encode())
        assert device.acks.get(timeout=TIMEOUT) == Ack(panic.id, AckStatus.HELP_COMING)

        alarms = httpx.get(f"{hub.http_url}/api/alarms?state=open", headers=auth).json()
        assert [(a["kind"], a["device_id"], a["event_id"]) for a in alarms] == [
            ("panic", "dev-panic", panic.id)
        ]

        device.publish(panic.encode())  # redelivery: acked again, no second alarm
        assert device.acks.get(timeout=TIMEOUT) == Ack(panic.id, AckStatus.HELP_COMING)
        assert len(httpx.get(f"{hub.http_url}/api/alarms", headers=auth).json()) == 1

        device.publish(b"\x00garbage")
        wait_until(lambda: httpx.get(f"{hub.http_url}/api/health").json()["rejected"] >= 1)
        health = httpx.get(f"{hub.http_url}/api/health")
        assert health.status_code == 200
        assert health.json()["mqtt"] == "connected"

        # The hub still works after the garbage.
        checkin = Event(str(uuid.uuid4()), EventKind.CHECKIN, int(time.time() * 1000), seq=2)
        device.publish(checkin.encode())
        assert device.acks.get(timeout=TIMEOUT) == Ack(checkin.id, AckStatus.RECEIVED)

        hub.stop()
        assert device.hub_status.get(timeout=TIMEOUT).state == DeviceState.OFFLINE
    finally:
        device.close()


def test_events_sent_while_the_hub_is_down_are_acked_when_it_returns(
    mosquitto: Mosquitto, tmp_path: Path
) -> None:
    config = load_config(
        env={
            "LONEGUARD_MQTT_URL": mosquitto.url,
            "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
            "LONEGUARD_REQUIRE_PROVISIONED": "false",
            "LONEGUARD_DB_URL": f"sqlite:///{tmp_path / 'hub.db'}",
            "LONEGUARD_HTTP": "127.0.0.1:0",
        }
    )
    HubThread(config).start().stop()  # leaves a persistent session with its subscriptions
    device = Device(mosquitto, "dev-offline")
    try:
        checkin = Event(str(uuid.uuid4()), EventKind.CHECKIN, int(time.time() * 1000), seq=1)
        device.publish(checkin.encode())
        with HubThread(config):
            assert device.acks.get(timeout=TIMEOUT) == Ack(checkin.id, AckStatus.RECEIVED)
    finally:
        device.close()


def test_a_second_hub_on_the_same_sqlite_file_is_refused(
    hub: HubThread, mosquitto: Mosquitto, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError) as stopped:
        HubThread(sqlite_hub_config(mosquitto, tmp_path)).start()
    assert "db.url: another hub is already running on sqlite:///" in str(stopped.value.__cause__)
    assert "postgresql://" in str(stopped.value.__cause__)
    assert hub.hub.ready.is_set()  # the first hub runs on
