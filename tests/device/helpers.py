"""Fakes and small tools shared by the device tests."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from loneguard.device.config import Config, parse_config
from loneguard.device.link import ModemReport
from loneguard.protocol.messages import Ack, Command, Event, HubStatus

WAIT = 10.0  # seconds a network wait may take before the test fails


def wait_until(condition: Callable[[], object], timeout: float = WAIT) -> None:
    """Wait for something that crosses a thread or the network; fails the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the system did not get there in time")
        time.sleep(0.005)


def make_config(data_dir: Any, **sections: dict[str, Any]) -> Config:
    data: dict[str, dict[str, Any]] = {"device": {"id": "unit-01", "data_dir": str(data_dir)}}
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return parse_config(data, env={})


def led_states(pin: Any) -> list[tuple[float, float]]:
    """A pin's recorded (seconds since the previous change, state), rounded off float noise."""
    return [(round(s.timestamp, 6), float(s.state)) for s in pin.states]


class FakeLink:
    """The app's ``Link``, driven by the test: no network, no threads."""

    def __init__(self, *, connected: bool = True) -> None:
        self.connected = connected
        self.hub_online: bool | None = None
        self.published: list[Event] = []
        self.listener: Any = None
        self.boot: int | None = None
        self.stopped: str | None = None

    def start(self, listener: Any, boot: int) -> None:
        self.listener, self.boot = listener, boot
        if self.connected:
            self.connect()

    def publish_event(self, event: Event) -> None:
        if self.connected:
            self.published.append(event)

    def stop(self, reason: str) -> None:
        self.stopped = reason

    def connect(self) -> None:
        self.connected = True
        self.published.extend(self.listener.pending_events())
        self.listener.on_connection(True)

    def disconnect(self) -> None:
        self.connected = False
        self.listener.on_connection(False)

    def ack(self, event_id: str) -> None:
        self.listener.on_ack(Ack(event_id))


class RecordingListener:
    """A ``LinkListener`` that records what the link tells it, with events to wait on."""

    def __init__(self, pending: list[Event] | None = None) -> None:
        self.pending = list(pending or [])
        self.modem: ModemReport | None = None
        self.battery: int | None = None
        self.replaced = False
        self.acks: queue.Queue[Ack] = queue.Queue()
        self.commands: queue.Queue[Command] = queue.Queue()
        self.hub: queue.Queue[HubStatus] = queue.Queue()
        self.up = threading.Event()
        self.down = threading.Event()

    def pending_events(self) -> list[Event]:
        return list(self.pending)

    def modem_report(self) -> ModemReport | None:
        return self.modem

    def battery_percent(self) -> int | None:
        return self.battery

    def outbox_replaced(self) -> bool:
        return self.replaced

    def on_connection(self, connected: bool) -> None:
        (self.up if connected else self.down).set()
        (self.down if connected else self.up).clear()

    def on_ack(self, ack: Ack) -> None:
        self.acks.put(ack)

    def on_command(self, command: Command) -> None:
        self.commands.put(command)

    def on_hub_status(self, status: HubStatus) -> None:
        self.hub.put(status)


class Observer:
    """A plain MQTT client standing in for the hub: it records what arrives on its topics."""

    def __init__(self, url: str, topics: list[str], *, client_id: str | None = None) -> None:
        host, port = url.removeprefix("mqtt://").split(":")
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._subscribed = threading.Event()
        self._topics = topics
        persistent = client_id is not None
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id or f"observer-{uuid.uuid4().hex[:8]}",
            clean_session=not persistent,
        )
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *args: self._subscribed.set()
        self.client.on_message = lambda client, userdata, message: self.messages.put(message)
        self.client.connect(host, int(port))
        self.client.loop_start()
        assert self._subscribed.wait(WAIT), "observer did not subscribe"

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe([(topic, 1) for topic in self._topics])

    def next(self, topic: str | None = None, timeout: float = WAIT) -> mqtt.MQTTMessage:
        """The next message (on ``topic``, if given), skipping others."""
        while True:
            message = self.messages.get(timeout=timeout)
            if topic is None or message.topic == topic:
                return message

    def next_payload(self, topic: str, timeout: float = WAIT) -> bytes:
        return bytes(self.next(topic, timeout).payload)

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(WAIT)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def duress_chord(app: Any, clock: Any) -> None:
    """The covert duress gesture on ``app``'s pins: panic down, check-in clicked 0.3 s later,
    panic up, and the release settled."""
    from loneguard.device.gestures import ButtonName

    panic, checkin = app.buttons[ButtonName.PANIC].pin, app.buttons[ButtonName.CHECKIN].pin
    panic.drive_low()
    clock.advance(0.3)
    checkin.drive_low()
    clock.advance(0.1)
    checkin.drive_high()
    panic.drive_high()
    clock.advance(0.05)
