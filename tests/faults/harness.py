"""What the fault tests share: a device's real data path without pins, and the counting.

``OutboxDevice`` is the device's own ``Outbox`` and ``MqttLink`` (paho, persistent session,
resend on reconnect and on overdue heartbeats) behind the smallest listener: an event is on
disk before it is published, and leaves the outbox only when the hub's ack names it. The link's
heartbeat timer runs on an injected ``FakeClock``; the tests advance it, never sleep through it.

Every fault test prints one line ``sent=N received=M duplicates=D`` (pytest shows it with
``-s`` and in the captured output of a failure) and then asserts nothing lost, nothing doubled.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

from loneguard.device.link import ModemReport, MqttLink
from loneguard.device.outbox import Outbox
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Ack, Command, Event, EventKind, HubStatus, new_event_id
from loneguard.server.store import AlarmKind, Store
from tests.device.helpers import make_config

WAIT = 30.0  # generous: the machine is shared, and a broker restart takes a moment

COUNTS: list[str] = []  # every test's count line, repeated in pytest's summary (conftest.py)


def print_counts(label: str, sent: int, received: int, duplicates: int) -> None:
    """Print (and keep for the summary) one test's ``sent=N received=M duplicates=D``."""
    line = f"{label}: sent={sent} received={received} duplicates={duplicates}"
    COUNTS.append(line)
    print(line)


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


class OutboxDevice:
    """One simulated unit: its outbox on disk and its MQTT link, driven by the test."""

    def __init__(self, data_dir: Path, device_id: str, mqtt_url: str, clock: FakeClock) -> None:
        self.device_id = device_id
        self.clock = clock
        config = make_config(
            data_dir,
            device={"id": device_id},
            mqtt={"url": mqtt_url, "reconnect_min_delay": 1, "reconnect_max_delay": 1},
        )
        self.heartbeat_interval = config.timing.heartbeat_interval
        self.outbox = Outbox.in_folder(data_dir)
        self.link = MqttLink(config, clock)
        self.made: list[Event] = []
        self.acks = 0
        self.ack_listeners: list[Callable[[Ack], None]] = []  # called before the outbox forgets
        self._lock = threading.Lock()

    def start(self) -> OutboxDevice:
        self.link.start(self, self.outbox.begin_boot())
        return self

    def make(self, kind: EventKind) -> Event:
        """A button press: stored in the outbox first, then published if connected."""
        with self._lock:
            event = Event(new_event_id(), kind, self.clock.wall_ms(), self.outbox.next_seq())
            self.outbox.add(event)
            self.made.append(event)
        self.link.publish_event(event)
        return event

    def stop(self) -> None:
        self.link.stop("test over")
        self.outbox.close()

    # -- LinkListener ---------------------------------------------------------------------------
    def pending_events(self) -> list[Event]:
        return self.outbox.pending()

    def modem_report(self) -> ModemReport | None:
        return None

    def battery_percent(self) -> int | None:
        return None

    def outbox_replaced(self) -> bool:
        return False

    def on_connection(self, connected: bool) -> None:
        pass

    def on_ack(self, ack: Ack) -> None:
        for listener in self.ack_listeners:
            listener(ack)
        with self._lock:
            self.acks += 1
            self.outbox.take(ack.ref)

    def on_command(self, command: Command) -> None:
        pass

    def on_hub_status(self, status: HubStatus) -> None:
        pass


def beat_until_empty(devices: Iterable[OutboxDevice], clock: FakeClock, timeout: float) -> None:
    """Advance the devices' clock a heartbeat at a time until every outbox is empty.

    Unacknowledged events are published again on the next heartbeat (or reconnect), so this is
    how a device catches up once the hub can store again.
    """
    devices = list(devices)
    interval = max(d.heartbeat_interval for d in devices)
    deadline = time.monotonic() + timeout
    while any(d.outbox.pending() for d in devices):
        if time.monotonic() > deadline:
            left = sum(len(d.outbox.pending()) for d in devices)
            raise AssertionError(f"{left} events still unacknowledged")
        clock.advance(interval)
        time.sleep(0.2)


def count_delivery(store: Store, sent: list[Event], *, label: str = "") -> tuple[int, int, int]:
    """(sent, received, duplicates) for ``sent``, as the hub's store has them, and print them.

    received: distinct sent events the hub stored; duplicates: stored rows beyond one per event
    plus panic/duress alarms beyond one per event (what a person would see twice).
    """
    ids = {e.id for e in sent}
    rows = Counter(row.id for row in store.events(limit=1_000_000) if row.id in ids)
    alarm_kinds = (AlarmKind.PANIC, AlarmKind.DURESS)
    alarms = Counter(a.event_id for a in store.alarms() if a.kind in alarm_kinds)
    alarmed = [e for e in sent if e.kind in (EventKind.PANIC, EventKind.DURESS)]
    duplicates = sum(n - 1 for n in rows.values()) + sum(max(0, alarms[e.id] - 1) for e in alarmed)
    missing_alarms = sum(1 for e in alarmed if alarms[e.id] == 0)
    received = len(rows) - missing_alarms
    print_counts(label, len(sent), received, duplicates)
    return len(sent), received, duplicates
