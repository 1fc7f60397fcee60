from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from loneguard.device.config import Config
from loneguard.device.firmware import DeviceApp
from loneguard.device.gestures import ButtonName
from loneguard.device.simulator import ClockedMockFactory
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Command, CommandOp, EventKind, new_event_id
from tests.device.helpers import FakeLink, led_states

CHECKIN_PIN, PANIC_PIN, LED_PIN = 17, 27, 22


@pytest.fixture
def link() -> FakeLink:
    return FakeLink()


@pytest.fixture
def app(
    config: Config, factory: ClockedMockFactory, clock: FakeClock, link: FakeLink
) -> Iterator[DeviceApp]:
    app = DeviceApp(config, pin_factory=factory, clock=clock, link=link)
    app.start()
    clock.advance(1.0)  # past the "starting" flash
    yield app
    app.stop("test over")


SETTLE = 0.05  # a check-in is recognised this long after its release (contact bounce)


def press(factory: ClockedMockFactory, pin: int) -> None:
    factory.pin(pin).drive_low()
    factory.pin(pin).drive_high()


def checkin(factory: ClockedMockFactory, clock: FakeClock) -> None:
    """One check-in press, and the wait until it is recognised."""
    press(factory, CHECKIN_PIN)
    clock.advance(SETTLE)


def test_start_counts_the_boot_and_flashes_starting(
    config: Config, factory: ClockedMockFactory, clock: FakeClock
) -> None:
    link = FakeLink(connected=False)
    app = DeviceApp(config, pin_factory=factory, clock=clock, link=link)
    led = factory.pin(LED_PIN)
    led.clear_states()
    app.start()
    assert link.boot == 1
    assert app.feedback.current == "starting"
    clock.advance(2.0)
    assert app.feedback.current == "offline"
    # Three 0.1 s blinks, then offline's slow blink from 0.6 s.
    assert led_states(led) == [
        (0.0, 0),
        (0.0, 1),
        (0.1, 0),
        (0.1, 1),
        (0.1, 0),
        (0.1, 1),
        (0.1, 0),
        (0.1, 1),
        (1.0, 0),
    ]
    app.stop("bye")
    assert link.stopped == "bye"
    again = DeviceApp(config, pin_factory=ClockedMockFactory(clock), clock=clock, link=FakeLink())
    again.start()
    assert again.boot == 2
    again.stop("bye")


def test_checkin_is_published_and_waits_for_its_ack(
    app: DeviceApp, factory: ClockedMockFactory, clock: FakeClock, link: FakeLink
) -> None:
    assert app.feedback.current == "online"
    led = factory.pin(LED_PIN)
    led.clear_states()  # t=0 is 1 s after start; online's blip ended at 0.65 s
    wall_at_press = clock.wall_ms()
    press(factory, CHECKIN_PIN)
    clock.advance(0.049)
    assert link.published == []  # the release is still settling (contact bounce)
    clock.advance(0.001)
    assert [e.kind for e in link.published] == [EventKind.CHECKIN]
    event = link.published[0]
    assert (event.ts, event.seq) == (wall_at_press + 50, 0)
    assert app.outbox.pending() == [event]
    assert app.feedback.current == "waiting"

    clock.advance(2.5)
    assert app.feedback.current == "waiting"
    link.ack(event.id)
    assert app.outbox.pending() == []
    assert app.feedback.current == "acknowledged"
    clock.advance(4.5)
    assert app.feedback.current == "online"

    waiting = [(0.15, 0), (0.15, 1), (0.15, 0), (0.55, 1)]
    assert led_states(led) == [
        (0.0, 0),
        (0.05, 1),
        *waiting,
        *waiting,
        (0.15, 0),
        (0.15, 1),
        (0.15, 0),  # until 2.5
        (0.05, 1),
        (1.5, 0),  # acknowledged: on at the ack for 1.5 s, then 0.5 s off
        (0.5, 1),
        (0.05, 0),  # online again: a 50 ms blip every 5 s
    ]
    assert app.snapshot()["events"] == [
        {"id": event.id, "kind": "checkin", "ts": event.ts, "seq": 0, "acked": True}
    ]


def test_waiting_lasts_until_every_pending_event_is_acked(
    app: DeviceApp, factory: ClockedMockFactory, clock: FakeClock, link: FakeLink
) -> None:
    checkin(factory, clock)
    checkin(factory, clock)
    first, second = link.published
    assert (first.seq, second.seq) == (0, 1)
    link.ack(first.id)
    clock.advance(2.0)  # after the acknowledged flash
    assert app.feedback.current == "waiting"
    link.ack(second.id)
    link.ack(second.id)  # a repeated ack changes nothing
    clock.advance(2.0)
    assert app.feedback.current == "online"


def test_panic_held_shorter_than_hold_time_does_nothing(
    app: DeviceApp, factory: ClockedMockFactory, clock: FakeClock, link: FakeLink
) -> None:
    factory.pin(PANIC_PIN).drive_low()
    clock.advance(2.99)
    factory.pin(PANIC_PIN).drive_high()
    clock.advance(10.0)
    assert link.published == []
    assert app.outbox.count() == 0


def test_panic_held_for_hold_time_raises_one_panic_while_still_held(
    app: DeviceApp, factory: ClockedMockFactory, clock: FakeClock, link: FakeLink
) -> None:
    factory.pin(PANIC_PIN).drive_low()
    clock.advance(2.999)
    assert link.published == []
    wall_at_hold = clock.wall_ms() + 1
    clock.advance(0.001)
    assert [(e.kind, e.ts) for e in link.published] == [(EventKind.PANIC, wall_at_hold)]
    clock.advance(10.0)
    factory.pin(PANIC_PIN).drive_high()
    assert len(link.published) == 1
    assert app.feedback.current == "waiting"


def test_nothing_cancels_a_panic(
    app: DeviceApp, factory: ClockedMockFactory, clock: FakeClock, link: FakeLink
) -> None:
    factory.pin(PANIC_PIN).drive_low()
    clock.advance(3.0)
    factory.pin(PANIC_PIN).drive_high()
    checkin(factory, clock)
    panic, check = app.outbox.pending()
    assert (panic.kind, check.kind) == (EventKind.PANIC, EventKind.CHECKIN)
    link.ack(check.id)
    assert app.outbox.pending() == [panic]


def test_offline_events_wait_in_the_outbox_and_go_out_on_connect(
    app: DeviceApp, factory: ClockedMockFactory, clock: FakeClock, link: FakeLink
) -> None:
    link.disconnect()
    assert app.feedback.current == "offline"
    checkin(factory, clock)
    assert link.published == []
    assert app.feedback.current == "waiting"  # waiting wins over offline: no ack yet
    assert app.snapshot()["queued"] == 1
    link.connect()
    assert [e.kind for e in link.published] == [EventKind.CHECKIN]


def test_events_of_an_earlier_run_are_republished_and_acked(
    config: Config, clock: FakeClock, link: FakeLink
) -> None:
    first_link = FakeLink(connected=False)
    first = DeviceApp(config, pin_factory=ClockedMockFactory(clock), clock=clock, link=first_link)
    first.start()
    checkin(first.buttons[ButtonName.CHECKIN].pin_factory, clock)
    (event,) = first.outbox.pending()
    first.stop("power cut")

    second = DeviceApp(config, pin_factory=ClockedMockFactory(clock), clock=clock, link=link)
    second.start()
    assert link.published == [event]
    link.ack(event.id)
    assert second.outbox.count() == 0
    second.stop("done")


def test_led_test_command_flashes(app: DeviceApp, clock: FakeClock) -> None:
    app.on_command(Command(new_event_id(), CommandOp.LED_TEST))
    assert app.feedback.current == "led_test"
    clock.advance(3.0)
    assert app.feedback.current == "online"
    app.on_command(Command(new_event_id(), CommandOp.PING))  # logged, harmless


def test_snapshot(
    app: DeviceApp, factory: ClockedMockFactory, clock: FakeClock, link: FakeLink
) -> None:
    checkin(factory, clock)
    state: dict[str, Any] = app.snapshot()
    assert state["device_id"] == "unit-01"
    assert state["boot"] == 1
    assert state["connected"] is True
    assert state["queued"] == 1
    assert state["pattern"] == "waiting"
    assert state["led"] == 1
    assert [e["kind"] for e in state["events"]] == ["checkin"]
    assert app.events_since(0)[0].id == link.published[0].id
    assert app.events_since(app.events_made) == []


def test_stop_releases_the_pins(
    config: Config, factory: ClockedMockFactory, clock: FakeClock
) -> None:
    app = DeviceApp(config, pin_factory=factory, clock=clock, link=FakeLink())
    app.start()
    app.stop("done")
    app.stop("twice is fine")
    DeviceApp(config, pin_factory=factory, clock=clock, link=FakeLink()).stop("never started")
