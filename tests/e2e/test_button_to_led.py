"""A press on a simulated device's pin crosses a real broker to the hub and returns as the LED."""

from __future__ import annotations

import json

import httpx
import paho.mqtt.client as mqtt

from loneguard.device.firmware import DeviceApp
from loneguard.device.gestures import ButtonName
from loneguard.device.simulator import ClockedMockFactory
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread
from tests.device.helpers import led_states
from tests.e2e.conftest import wait_until


def test_checkin_press_is_stored_acked_and_shown_on_the_led(
    device: DeviceApp, factory: ClockedMockFactory, device_clock: FakeClock, api: httpx.Client
) -> None:
    led = device.led.pin
    checkin = device.buttons[ButtonName.CHECKIN].pin
    checkin.drive_low()
    checkin.drive_high()
    device_clock.advance(0.6)  # the release settles (50 ms): a check-in
    (event,) = device.events_since(0)
    assert device.feedback.current == "waiting"  # shown until the hub's ack arrives

    wait_until(lambda: device.outbox.count() == 0)
    assert device.feedback.current == "acknowledged"
    stored = api.get("/api/events", params={"kind": "checkin"}).json()
    assert [(e["id"], e["device_id"]) for e in stored] == [(event.id, device.config.device.id)]
    (row,) = api.get("/api/devices").json()
    assert row["last_checkin_ms"] == event.ts and row["online"] is True

    # The press turned the LED on for "waiting"; the ack (same fake instant) keeps it on for
    # the 1.5 s "acknowledged" flash, then 0.5 s dark, then the online blip returns.
    led.clear_states()
    device_clock.advance(2.1)
    assert led_states(led) == [(0.0, 1), (1.5, 0), (0.5, 1), (0.05, 0)]
    assert device.feedback.current == "online"


def test_held_panic_opens_one_alarm_and_a_redelivery_changes_nothing(
    device: DeviceApp,
    device_clock: FakeClock,
    api: httpx.Client,
    mosquitto: Mosquitto,
    hub: HubThread,
) -> None:
    panic = device.buttons[ButtonName.PANIC].pin
    panic.drive_low()
    device_clock.advance(2.9)
    assert device.events_made == 0  # not held long enough yet
    device_clock.advance(0.1)
    panic.drive_high()
    (event,) = device.events_since(0)
    assert event.kind == "panic"
    wait_until(lambda: device.outbox.count() == 0)

    (alarm,) = api.get("/api/alarms", params={"state": "open"}).json()
    assert (alarm["kind"], alarm["event_id"], alarm["device_id"]) == (
        "panic",
        event.id,
        device.config.device.id,
    )

    # The same event again (a device that never saw the ack resends it): still one alarm.
    raw = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="e2e-raw")
    raw.connect(mosquitto.host, mosquitto.port)
    raw.loop_start()
    try:
        topic = str(DeviceTopic(device.config.device.id, Channel.EVENT))
        resent = Event(event.id, event.kind, event.ts, event.seq)
        raw.publish(topic, resent.encode(), qos=1).wait_for_publish(5)
        raw.publish(topic, b'{"v":1,"kind":"panic"', qos=1).wait_for_publish(5)
        wait_until(lambda: api.get("/api/health").json()["rejected"] >= 1)
    finally:
        raw.disconnect()
        raw.loop_stop()
    assert len(api.get("/api/alarms").json()) == 1
    assert len(api.get("/api/events", params={"kind": "panic"}).json()) == 1
    health = api.get("/api/health")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert json.loads(health.text)["mqtt"] == "connected"
