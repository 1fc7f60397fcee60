"""A duress from a real (simulated) device is covert on the console, and handling it there sends
the device nothing: what the device receives is exactly what a check-in would get."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import httpx
import paho.mqtt.client as mqtt
import pytest

from loneguard.device.firmware import DeviceApp
from loneguard.device.gestures import ButtonName
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.console.users import create_user
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread
from loneguard.server.store import AlarmKind, AlarmState, Role, Worker
from tests.e2e.conftest import wait_until
from tests.server.console.conftest import PASSWORD, form_csrf, log_in


class Inbox:
    """Every message the hub sends to one device (acks and commands), in arrival order."""

    def __init__(self, mosquitto: Mosquitto, device_id: str) -> None:
        self.messages: list[tuple[str, dict[str, object]]] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="console-spy")
        self._client.on_message = self._on_message
        self._client.connect(mosquitto.host, mosquitto.port)
        for channel in (Channel.ACK, Channel.CMD):
            self._client.subscribe(str(DeviceTopic(device_id, channel)), qos=1)
        self._client.loop_start()

    def _on_message(self, _c: object, _u: object, msg: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((msg.topic.rsplit("/", 1)[1], json.loads(msg.payload)))

    def since(self, n: int) -> list[tuple[str, dict[str, object]]]:
        with self._lock:
            return self.messages[n:]

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


@pytest.fixture
def inbox(mosquitto: Mosquitto, device: DeviceApp) -> Iterator[Inbox]:
    spy = Inbox(mosquitto, device.config.device.id)
    try:
        yield spy
    finally:
        spy.close()


def tap(device: DeviceApp, device_clock: FakeClock, *, duress: bool = False) -> str:
    """Click check-in (with panic held from 0.3 s before: the duress chord); the event's id."""
    made = device.events_made
    panic = device.buttons[ButtonName.PANIC].pin
    pin = device.buttons[ButtonName.CHECKIN].pin
    if duress:
        panic.drive_low()
        device_clock.advance(0.3)
    pin.drive_low()
    device_clock.advance(0.05)
    pin.drive_high()
    device_clock.advance(0.1)
    panic.drive_high()
    device_clock.advance(0.6)
    (event,) = device.events_since(made)
    return event.id


def test_a_duress_is_covert_and_handling_it_sends_the_device_nothing(
    hub: HubThread, device: DeviceApp, device_clock: FakeClock, inbox: Inbox
) -> None:
    store = hub.store
    create_user(store, "max", Role.MANAGER, PASSWORD, 0)
    store.save_worker(Worker("w-wendy", "Wendy Walker")).result()
    store.assign_device(device.config.device.id, "w-wendy").result()

    duress_id = tap(device, device_clock, duress=True)
    wait_until(lambda: store.alarms(AlarmState.OPEN))
    (alarm,) = store.alarms(AlarmState.OPEN)
    assert alarm.kind == AlarmKind.DURESS
    wait_until(lambda: any(m.get("ref") == duress_id for _, m in inbox.since(0)))
    assert [m for _, m in inbox.since(0)] == [{"v": 1, "ref": duress_id, "status": "received"}]

    with httpx.Client(base_url=hub.http_url, timeout=10) as office:
        log_in(office, "max")
        board = office.get("/console/board").text
        assert "Duress (covert)" in board and "code word" in board
        heard = len(inbox.since(0))
        csrf = form_csrf(office.get(f"/console/alarms/{alarm.id}").text)
        acked = office.post(f"/console/alarms/{alarm.id}/acknowledge", data={"csrf": csrf})
        assert acked.status_code == 303
        resolve = {"csrf": csrf, "outcome": "worker safe", "notes": "Code word answered: fine."}
        assert office.post(f"/console/alarms/{alarm.id}/resolve", data=resolve).status_code == 303

    # A check-in after the office handled the duress: its ack is the only thing that arrives.
    checkin_id = tap(device, device_clock)
    wait_until(lambda: any(m.get("ref") == checkin_id for _, m in inbox.since(heard)))
    assert inbox.since(heard) == [("ack", {"v": 1, "ref": checkin_id, "status": "received"})]
    resolved = store.alarm(alarm.id)
    assert resolved is not None and resolved.state == AlarmState.RESOLVED
