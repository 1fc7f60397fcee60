"""The device application: button gestures become durable events; acks and the link drive the LED.

One press, end to end: the gpiozero ``Button`` callback feeds ``GestureInput``; a recognised
gesture becomes an ``Event`` (id and timestamp made now), which goes into the ``Outbox`` (on
disk) and only then to the ``Link``. The LED shows ``waiting`` while anything is unacknowledged,
flashes ``acknowledged`` when the hub's ack arrives, and otherwise shows online or offline.

Hardware, clock and link are handed in (``pin_factory``, ``clock``, ``link``), never reached for.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any

from gpiozero import LED, Button, Buzzer

from device.config import Config
from device.feedback import Feedback
from device.gestures import ButtonName, Gesture, GestureInput, GestureMachine, Recognized
from device.link import Link, MqttLink
from device.outbox import Outbox
from protocol.clock import Clock
from protocol.messages import Ack, Command, CommandOp, Event, EventKind, HubStatus, new_event_id

log = logging.getLogger(__name__)

RECENT_EVENTS = 50

_KIND_OF = {Gesture.CHECKIN: EventKind.CHECKIN, Gesture.PANIC: EventKind.PANIC}


@dataclass
class EventRecord:
    """An event this run made, for the control endpoint and the logs."""

    id: str
    kind: EventKind
    ts: int
    seq: int
    acked: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": str(self.kind),
            "ts": self.ts,
            "seq": self.seq,
            "acked": self.acked,
        }


class DeviceApp:
    """Buttons, LED, buzzer, outbox and link wired together. ``start()`` then ``stop(reason)``."""

    def __init__(
        self,
        config: Config,
        *,
        pin_factory: Any,
        clock: Clock,
        link: Link | None = None,
        outbox: Outbox | None = None,
    ) -> None:
        self.config = config
        self.clock = clock
        self.outbox = outbox if outbox is not None else Outbox.in_folder(config.data_dir)
        self.link: Link = link if link is not None else MqttLink(config, clock)
        pins, bounce = config.pins, config.timing.bounce_time
        self.buttons: dict[ButtonName, Button] = {
            ButtonName.CHECKIN: Button(
                pins.checkin, pull_up=True, bounce_time=bounce, pin_factory=pin_factory
            ),
            ButtonName.PANIC: Button(
                pins.panic, pull_up=True, bounce_time=bounce, pin_factory=pin_factory
            ),
        }
        self.led = LED(pins.led, pin_factory=pin_factory)
        self.buzzer = Buzzer(pins.buzzer, pin_factory=pin_factory) if pins.buzzer else None
        self.feedback = Feedback(self.led, clock, buzzer=self.buzzer)
        self.gestures = GestureInput(
            GestureMachine(config.timing.hold_time), clock, self._on_gesture
        )
        self.boot = 0
        self._lock = threading.RLock()
        self._recent: deque[EventRecord] = deque(maxlen=RECENT_EVENTS)
        self._made = 0
        self._running = False
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("a stopped DeviceApp cannot start again; make a new one")
            self.boot = self.outbox.begin_boot()
            self._running = True
            for name, button in self.buttons.items():
                button.when_pressed = self._edge_handler(name, True)
                button.when_released = self._edge_handler(name, False)
            self.feedback.flash("starting")
            self._refresh()
        log.info("device %s boot %d started", self.config.device_id, self.boot)
        self.link.start(self, self.boot)

    def stop(self, reason: str = "stopped") -> None:
        """Publish an offline status with ``reason``, then release the pins and the outbox."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            was_running, self._running = self._running, False
            self.gestures.close()
            if was_running:
                for button in self.buttons.values():
                    button.when_pressed = None
                    button.when_released = None
        if was_running:
            self.link.stop(reason)
        with self._lock:
            self.feedback.stop()
            for device in (*self.buttons.values(), self.led, self.buzzer):
                if device is not None:
                    device.close()
            self.outbox.close()
        log.info("device %s stopped: %s", self.config.device_id, reason)

    # -- inputs --------------------------------------------------------------------------------

    def _edge_handler(self, name: ButtonName, pressed: bool) -> Any:
        def handler() -> None:
            self.gestures.edge(name, pressed)

        return handler

    def _on_gesture(self, recognized: Recognized) -> None:
        event_id = new_event_id()  # at the press, before anything can fail on the network
        with self._lock:
            if not self._running:
                return
            event = Event(
                id=event_id,
                kind=_KIND_OF[recognized.gesture],
                ts=self.clock.wall_ms(),
                seq=self.outbox.next_seq(),
            )
            self.outbox.add(event)
            self._recent.append(EventRecord(event.id, event.kind, event.ts, event.seq))
            self._made += 1
            self._refresh()
        log.info("event %s %s seq %d", event.kind, event.id, event.seq)
        self.link.publish_event(event)

    # -- LinkListener --------------------------------------------------------------------------

    def pending_events(self) -> list[Event]:
        return self.outbox.pending()

    def on_connection(self, connected: bool) -> None:
        with self._lock:
            if self._running:
                self._refresh()

    def on_ack(self, ack: Ack) -> None:
        with self._lock:
            if not self._running or not self.outbox.ack(ack.ref):
                return  # a repeated ack, or one for another boot's event already cleared
            for record in self._recent:
                if record.id == ack.ref:
                    record.acked = True
            self.feedback.flash("acknowledged")
            self._refresh()
        log.info("ack %s %s", ack.ref, ack.status)

    def on_command(self, command: Command) -> None:
        if command.op == CommandOp.LED_TEST:
            with self._lock:
                if self._running:
                    self.feedback.flash("led_test")
        else:
            log.info("command %s %s not handled by this firmware yet", command.op, command.id)

    def on_hub_status(self, status: HubStatus) -> None:
        log.info("hub is %s", status.state)

    # -- state for the control endpoint ----------------------------------------------------------

    @property
    def events_made(self) -> int:
        """How many events this run has made; with ``events_since`` finds an action's events."""
        with self._lock:
            return self._made

    def events_since(self, count: int) -> list[EventRecord]:
        with self._lock:
            new = self._made - count
            return list(self._recent)[-new:] if new > 0 else []

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "device_id": self.config.device_id,
                "boot": self.boot,
                "led": 1 if self.led.value else 0,
                "pattern": self.feedback.current,
                "connected": self.link.connected,
                "hub_online": self.link.hub_online,
                "queued": self.outbox.count() if self._running else 0,
                "events": [record.to_json() for record in self._recent],
            }

    def _refresh(self) -> None:
        if self.outbox.count():
            self.feedback.show("waiting")
        elif self.link.connected:
            self.feedback.show("online")
        else:
            self.feedback.show("offline")
