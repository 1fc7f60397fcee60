"""The device application: button gestures become durable events; acks and the link drive the LED.

One press, end to end: the gpiozero ``Button`` callback feeds ``GestureInput``; a recognised
gesture becomes an ``Event`` (id and timestamp made now), which goes into the ``Outbox`` (on
disk) and only then to the ``Link`` (and, for panic and duress, to the ``SmsFallback`` when a
modem and a hub number are configured).

The LED (base patterns, highest first): ``help_coming`` once the hub acks a panic with
``help_coming``, until it acks ``resolved`` or the worker checks in; ``prealert`` after the hub's
``prealert`` command, until a check-in or a session start; ``waiting`` while anything is
unacknowledged; otherwise online or offline. One-shot flashes: ``acknowledged`` on an ack,
``confirm(n)`` for a session started here (n = steps) or a sign in (1) / out (2), ``reminder``
in desk mode every ``desk.reminder_interval`` minutes without a check-in while signed in.

A duress goes through exactly the code path of a check-in (only the event kind differs), and the
hub acks it ``received``; an ack ``help_coming`` is honoured only for a panic. So a duress shows
and sounds exactly as a check-in does.

Hardware, clock, link and modem are handed in (``pin_factory``, ``clock``, ``link``, ``modem``),
never reached for.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gpiozero import LED, Button, Buzzer, DigitalOutputDevice

from loneguard.device.battery import I2cBus, PiSugar3
from loneguard.device.config import Config
from loneguard.device.fallback import ModemWorker, SmsFallback
from loneguard.device.feedback import Feedback
from loneguard.device.gestures import (
    ButtonName,
    DuressGesture,
    Gesture,
    GestureInput,
    GestureMachine,
    GestureTiming,
    Recognized,
)
from loneguard.device.link import Link, ModemReport, MqttLink
from loneguard.device.outbox import Outbox
from loneguard.device.pwrkey import PwrKey
from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import Clock, Timer
from loneguard.protocol.messages import (
    KINDS_WITH_LOCATION,
    MAX_SESSION_MINUTES,
    Ack,
    AckStatus,
    Command,
    CommandOp,
    DeviceState,
    Event,
    EventKind,
    HubStatus,
    Location,
    new_event_id,
)

log = logging.getLogger(__name__)

RECENT_EVENTS = 50
LIVENESS_TICK = 1.0  # seconds between the clock thread's proofs of life
LIVENESS_LIMIT = 10.0  # seconds without one before the app calls itself unhealthy
MODEM_JOB_LIMIT = 600.0  # seconds one modem job may run before the worker counts as stuck

_KIND_OF = {
    Gesture.CHECKIN: EventKind.CHECKIN,
    Gesture.DURESS: EventKind.DURESS,
    Gesture.PANIC: EventKind.PANIC,
    Gesture.SESSION_START: EventKind.SESSION_START,
    Gesture.SIGNAL_REPORT: EventKind.SIGNAL_REPORT,
}
SIGNAL_REPORT_BLINKS = 3  # one blink per tap of the gesture: "noted", nothing like help_coming
SIGNED_IN_KEY = "signed_in"


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
        modem: Modem | None = None,
        battery: PiSugar3 | None = None,
        clock_synced: Callable[[], bool] | None = None,
    ) -> None:
        self.config = config
        # Whether the wall clock can be trusted for an event's ts (device/clock_sync.py on a
        # unit); None: always (a simulated unit runs on a host whose clock is set).
        self._clock_synced = clock_synced
        self.clock = clock
        self.outbox = (
            outbox
            if outbox is not None
            else Outbox.in_folder(config.device.data_dir, max_events=config.outbox.max_events)
        )
        self.link: Link = link if link is not None else MqttLink(config, clock)
        if battery is None and config.battery.board == "pisugar3":
            battery = PiSugar3(I2cBus(config.battery.i2c_bus))
        self.battery = battery
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
        timing = GestureTiming(
            hold_time=config.timing.hold_time,
            duress=DuressGesture(config.timing.duress_gesture),
            duress_lead=config.timing.duress_lead,
            long_hold=config.timing.long_hold,
            step_window=config.timing.step_window,
            desk=config.device.desk,
        )
        self.gestures = GestureInput(GestureMachine(timing=timing), clock, self._on_gesture)
        self.pwrkey: PwrKey | None = None
        if modem is not None and pins.modem_pwrkey is not None:
            self.pwrkey = PwrKey(pins.modem_pwrkey, clock, pin_factory=pin_factory)
            modem.set_power_cycle(self.pwrkey.power_cycle)
        self.modem = (
            ModemWorker(
                modem,
                clock,
                check_interval=config.timing.heartbeat_interval,
                power_on=self.pwrkey.power_on if self.pwrkey is not None else None,
            )
            if modem is not None
            else None
        )
        # The Waveshare HAT's flight-mode input: high puts the radio in flight mode, so it is
        # held low for as long as the firmware runs.
        self.flight = (
            DigitalOutputDevice(pins.modem_flight, initial_value=False, pin_factory=pin_factory)
            if pins.modem_flight is not None
            else None
        )
        sms = config.sms
        self.fallback = (
            SmsFallback(
                self.modem,
                self.outbox,
                clock,
                device_id=config.device.id,
                hub_number=sms.hub_number,
                secret=sms.secret.encode(),
                ack_timeout=sms.ack_timeout,
            )
            if self.modem is not None and sms.hub_number and sms.secret
            else None
        )
        self.boot = 0
        self.signed_in = False
        self._prealert = False
        self._help_coming = False
        self._reminder: Timer | None = None
        self._lock = threading.RLock()
        self._recent: deque[EventRecord] = deque(maxlen=RECENT_EVENTS)
        self._made = 0
        self._running = False
        self._closed = False
        self._alive_at = clock.monotonic()
        self._liveness: Timer | None = None
        self.liveness_limit = LIVENESS_LIMIT

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("a stopped DeviceApp cannot start again; make a new one")
            self.boot = self.outbox.begin_boot()
            self.signed_in = self.config.device.desk and bool(self.outbox.get_state(SIGNED_IN_KEY))
            self._running = True
            if self.modem is not None:
                self.modem.start()
            if self.fallback is not None:
                self.fallback.resume()
            self._schedule_reminder()
            self._alive()
            for name, button in self.buttons.items():
                button.when_pressed = self._edge_handler(name, True)
                button.when_released = self._edge_handler(name, False)
            self.feedback.flash("starting")
            self._refresh()
        log.info("device %s boot %d started", self.config.device.id, self.boot)
        self.link.start(self, self.boot)

    def stop(self, reason: str = "stopped") -> None:
        """Publish an offline status with ``reason``, then release the pins and the outbox."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            was_running, self._running = self._running, False
            self.gestures.close()
            self._cancel_reminder()
            if self._liveness is not None:
                self._liveness.cancel()
            if self.fallback is not None:
                self.fallback.stop()
            if was_running:
                for button in self.buttons.values():
                    button.when_pressed = None
                    button.when_released = None
        if was_running:
            self.link.stop(reason)
        if self.modem is not None and was_running:
            self.modem.stop()  # before the outbox closes: a send in progress records itself
        with self._lock:
            self.feedback.stop()
            for device in (*self.buttons.values(), self.led, self.buzzer, self.pwrkey, self.flight):
                if device is not None:
                    device.close()
            self.outbox.close()
            if self.battery is not None:
                self.battery.close()
        log.info("device %s stopped: %s", self.config.device.id, reason)

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
            kind, minutes = self._event_kind(recognized)
            event = Event(
                id=event_id,
                kind=kind,
                ts=self.clock.wall_ms(),
                seq=self.outbox.next_seq(),
                minutes=minutes,
                location=self._location_for(kind),
                unsynced=self._clock_synced is not None and not self._clock_synced(),
            )
            self.outbox.add(event)
            self._recent.append(EventRecord(event.id, event.kind, event.ts, event.seq))
            self._made += 1
            self._show_gesture(recognized)
            self._refresh()
            reachable = self.link.connected and self.link.hub_online is not False
        log.info("event %s %s seq %d", event.kind, event.id, event.seq)
        self.link.publish_event(event)
        if self.fallback is not None:
            self.fallback.watch(event, reachable=reachable)

    def _location_for(self, kind: EventKind) -> Location | None:
        """The last GNSS fix, for a panic or duress only: no location at other times."""
        if kind not in KINDS_WITH_LOCATION or self.modem is None:
            return None
        return self.modem.last_location(self.config.modem.gnss_max_age)

    def _event_kind(self, recognized: Recognized) -> tuple[EventKind, int | None]:
        if recognized.gesture is Gesture.SIGN:
            return (EventKind.SIGN_OUT if self.signed_in else EventKind.SIGN_IN), None
        if recognized.gesture is Gesture.SESSION_START:
            session = self.config.session
            minutes = session.preset_minutes + (recognized.steps - 1) * session.step_minutes
            return EventKind.SESSION_START, min(minutes, MAX_SESSION_MINUTES)
        return _KIND_OF[recognized.gesture], None

    def _show_gesture(self, recognized: Recognized) -> None:
        """What a gesture changes on the LED; a check-in and a duress change the same things."""
        gesture = recognized.gesture
        if gesture in (Gesture.CHECKIN, Gesture.DURESS):
            self._prealert = False
            self._help_coming = False
            self._schedule_reminder()
        elif gesture is Gesture.SESSION_START:
            self._prealert = False
            self.feedback.confirm(recognized.steps)
        elif gesture is Gesture.SIGNAL_REPORT:
            self.feedback.confirm(SIGNAL_REPORT_BLINKS)
        elif gesture is Gesture.SIGN:
            self.signed_in = not self.signed_in
            self.outbox.set_state(SIGNED_IN_KEY, int(self.signed_in))
            self.feedback.confirm(1 if self.signed_in else 2)
            self._schedule_reminder()

    # -- desk mode reminders ---------------------------------------------------------------------

    def _schedule_reminder(self) -> None:
        self._cancel_reminder()
        minutes = self.config.desk.reminder_interval
        if self._running and self.signed_in and minutes > 0:
            self._reminder = self.clock.call_later(minutes * 60.0, self._remind)

    def _cancel_reminder(self) -> None:
        if self._reminder is not None:
            self._reminder.cancel()
            self._reminder = None

    def _remind(self) -> None:
        with self._lock:
            if not self._running:
                return
            self.feedback.flash("reminder")
            self._schedule_reminder()  # again each interval until a check-in

    # -- health, for the service watchdog ---------------------------------------------------------

    def _alive(self) -> None:
        with self._lock:
            self._alive_at = self.clock.monotonic()
            if self._running:
                self._liveness = self.clock.call_later(LIVENESS_TICK, self._alive)

    def health_problems(self) -> list[str]:
        """Why the main loop must not ping the watchdog; empty when healthy.

        The clock thread plays the LED and times the gestures: when it stops running timers the
        unit is dead to its wearer, whatever else works. A modem worker stuck in one job has
        taken the SMS path down with it. A broker or modem that is down is not a problem here:
        the app copes with both.
        """
        problems: list[str] = []
        if not self._running:
            problems.append("not running")
        lag = self.clock.monotonic() - self._alive_at
        if lag > self.liveness_limit:
            problems.append(f"clock thread stalled for {lag:.0f}s")
        try:
            self.outbox.count()
        except Exception as exc:
            problems.append(f"outbox unreadable ({type(exc).__name__})")
        busy = self.modem.busy_for() if self.modem is not None else 0.0
        if busy > MODEM_JOB_LIMIT:
            problems.append(f"modem worker stuck for {busy:.0f}s")
        return problems

    def status_line(self) -> str:
        """One line for ``systemctl status``: link, hub, queue, modem."""
        link = "online" if self.link.connected else "offline"
        hub = {True: "hub online", False: "hub offline", None: "hub unknown"}[self.link.hub_online]
        parts = [f"{self.config.device.id} {link}", hub, f"{self.outbox.count()} queued"]
        if self.modem is not None:
            parts.append(f"modem {self.modem.report().health}")
        if self.outbox.moved_aside is not None:
            parts.append(f"outbox was damaged, moved to {self.outbox.moved_aside.name}")
        return ", ".join(parts)

    # -- LinkListener --------------------------------------------------------------------------

    def pending_events(self) -> list[Event]:
        return self.outbox.pending()

    def modem_report(self) -> ModemReport | None:
        return self.modem.report() if self.modem is not None else None

    def battery_percent(self) -> int | None:
        return self.battery.percent() if self.battery is not None else None

    def outbox_replaced(self) -> bool:
        return self.outbox.moved_aside is not None

    def on_connection(self, connected: bool) -> None:
        with self._lock:
            if not self._running:
                return
            self._refresh()
        if not connected and self.fallback is not None:
            self.fallback.unreachable()

    def on_ack(self, ack: Ack) -> None:
        with self._lock:
            if not self._running:
                return
            if ack.status is AckStatus.RESOLVED:
                self._help_coming = False
            event = self.outbox.take(ack.ref)
            if event is None:
                # A person took charge of a panic already acked: help is (still) coming.
                if ack.status is AckStatus.HELP_COMING and self._made_panic(ack.ref):
                    self._help_coming = True
                self._refresh()
                return  # a repeated ack, or one for another boot's event already cleared
            for record in self._recent:
                if record.id == ack.ref:
                    record.acked = True
            if ack.status is AckStatus.HELP_COMING and event.kind is EventKind.PANIC:
                self._help_coming = True  # never for a duress: it must look like a check-in
            else:
                self.feedback.flash("acknowledged")
            self._refresh()
        log.info("ack %s %s", ack.ref, ack.status)

    def _made_panic(self, event_id: str) -> bool:
        return any(r.id == event_id and r.kind is EventKind.PANIC for r in self._recent)

    def on_command(self, command: Command) -> None:
        with self._lock:
            if not self._running:
                return
            if command.op == CommandOp.LED_TEST:
                self.feedback.flash("led_test")
            elif command.op == CommandOp.PREALERT:
                self._prealert = True
                self._refresh()
            else:
                log.info("command %s %s not handled by this firmware yet", command.op, command.id)

    def on_hub_status(self, status: HubStatus) -> None:
        log.info("hub is %s", status.state)
        if status.state == DeviceState.OFFLINE and self.fallback is not None:
            self.fallback.unreachable()

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
                "device_id": self.config.device.id,
                "boot": self.boot,
                "led": 1 if self.led.value else 0,
                "buzzer": None if self.buzzer is None else (1 if self.buzzer.value else 0),
                "pattern": self.feedback.current,
                "connected": self.link.connected,
                "hub_online": self.link.hub_online,
                "queued": self.outbox.count() if self._running else 0,
                "mode": self.config.device.mode,
                "signed_in": self.signed_in,
                "events": [record.to_json() for record in self._recent],
            }

    def _refresh(self) -> None:
        if self._help_coming:
            self.feedback.show("help_coming")
        elif self._prealert:
            self.feedback.show("prealert")
        elif self.outbox.count():
            self.feedback.show("waiting")
        elif self.link.connected:
            self.feedback.show("online")
        else:
            self.feedback.show("offline")
