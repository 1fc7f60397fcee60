"""Every gesture through the whole app, asserting the exact LED (and buzzer) states and times."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loneguard.device.config import Config
from loneguard.device.firmware import DeviceApp
from loneguard.device.simulator import ClockedMockFactory
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Ack, AckStatus, Command, CommandOp, EventKind, new_event_id
from tests.device.helpers import FakeLink, led_states, make_config

CHECKIN_PIN, PANIC_PIN, LED_PIN, BUZZER_PIN = 17, 27, 22, 23
WAITING = [(0.15, 0), (0.15, 1), (0.15, 0), (0.55, 1)]


def started(config: Config, clock: FakeClock, link: FakeLink | None = None) -> DeviceApp:
    app = DeviceApp(
        config, pin_factory=ClockedMockFactory(clock), clock=clock, link=link or FakeLink()
    )
    app.start()
    clock.advance(1.0)  # past the "starting" flash; online's blip is over
    return app


def pin(app: DeviceApp, number: int) -> Any:
    return app.buttons[next(iter(app.buttons))].pin_factory.pin(number)


def tap(app: DeviceApp, clock: FakeClock, gap: float = 0.1) -> None:
    pin(app, CHECKIN_PIN).drive_low()
    clock.advance(gap)
    pin(app, CHECKIN_PIN).drive_high()


def chord(app: DeviceApp, clock: FakeClock) -> None:
    """The duress gesture: panic down, check-in clicked 0.3 s later, panic up."""
    pin(app, PANIC_PIN).drive_low()
    clock.advance(0.3)
    tap(app, clock)
    pin(app, PANIC_PIN).drive_high()


def record(app: DeviceApp, clock: FakeClock, gesture: str) -> tuple[list[Any], list[Any], Any]:
    """Click check-in at t=0 (panic held since t=-0.3 for a duress), ack its event at t=2 the
    way the hub does, record to t=6."""
    link = app.link
    assert isinstance(link, FakeLink)
    led, buzzer = pin(app, LED_PIN), pin(app, BUZZER_PIN)
    if gesture == "duress":
        pin(app, PANIC_PIN).drive_low()
        clock.advance(0.3)
    led.clear_states()
    buzzer.clear_states()
    tap(app, clock)
    clock.advance(0.1)
    if gesture == "duress":
        pin(app, PANIC_PIN).drive_high()
    clock.advance(1.8)
    (event,) = link.published
    link.listener.on_ack(Ack(event.id, AckStatus.RECEIVED))  # a duress is acked as a check-in
    clock.advance(4.0)
    return led_states(led), led_states(buzzer), event


@pytest.fixture
def link() -> FakeLink:
    return FakeLink()


@pytest.fixture
def app(config: Config, clock: FakeClock, link: FakeLink) -> Iterator[DeviceApp]:
    app = started(config, clock, link)
    yield app
    app.stop("test over")


def test_duress_shows_and_sounds_exactly_as_a_checkin(tmp_path: Path) -> None:
    clock = FakeClock()
    checkin_app = started(make_config(tmp_path / "a"), clock)
    checkin = record(checkin_app, clock, "checkin")
    checkin_app.stop("done")
    duress_app = started(make_config(tmp_path / "b"), clock)
    duress = record(duress_app, clock, "duress")
    duress_app.stop("done")

    assert (checkin[2].kind, duress[2].kind) == (EventKind.CHECKIN, EventKind.DURESS)
    assert duress[:2] == checkin[:2]  # LED and buzzer, state by state and time by time
    # Both: the event at the release + 50 ms (t=0.15) shows waiting; the ack at t=2.0 flashes
    # acknowledged (1.5 s on with the beep, 0.5 s off), then online's blip.
    assert checkin[0] == [
        (0.0, 0),
        (0.15, 1),
        *WAITING,
        (0.15, 0),
        (0.15, 1),
        (0.15, 0),
        (0.4, 1),
        (1.5, 0),
        (0.5, 1),
        (0.05, 0),
    ]
    assert checkin[1] == [(0.0, 0), (2.0, 1), (1.5, 0)]


def test_a_duress_event_goes_out_once_as_a_duress(
    app: DeviceApp, factory: ClockedMockFactory, clock: FakeClock, link: FakeLink
) -> None:
    chord(app, clock)
    clock.advance(10.0)
    assert [e.kind for e in link.published] == [EventKind.DURESS]  # and no panic, ever


def test_help_coming_for_a_panic_until_resolved(
    app: DeviceApp, clock: FakeClock, link: FakeLink
) -> None:
    led = pin(app, LED_PIN)
    pin(app, PANIC_PIN).drive_low()
    clock.advance(3.0)
    pin(app, PANIC_PIN).drive_high()
    (panic,) = link.published
    led.clear_states()
    link.listener.on_ack(Ack(panic.id, AckStatus.HELP_COMING))
    assert app.feedback.current == "help_coming"
    clock.advance(2.0)
    # Long on, short off, silent; at the ack the waiting blink was on.
    assert led_states(led) == [(0.0, 1), (0.8, 0), (0.2, 1), (0.8, 0), (0.2, 1)]
    assert led_states(pin(app, BUZZER_PIN))[-1][1] == 0
    # Holding panic again, or any other gesture of a worker, does not end the alarm on the hub;
    # only the LED follows the worker's own check-in or the hub's resolution.
    link.listener.on_ack(Ack(panic.id, AckStatus.RESOLVED))
    assert app.feedback.current == "online"


def test_a_panic_taken_in_charge_after_a_checkin_shows_help_coming_again(
    app: DeviceApp, clock: FakeClock, link: FakeLink
) -> None:
    pin(app, PANIC_PIN).drive_low()
    clock.advance(3.0)
    pin(app, PANIC_PIN).drive_high()
    (panic,) = link.published
    link.listener.on_ack(Ack(panic.id, AckStatus.HELP_COMING))
    tap(app, clock)
    clock.advance(0.6)  # a check-in: the LED leaves "help coming"
    assert app.feedback.base != "help_coming"
    # The office takes charge of the (still open) panic: its ack comes again, already acked.
    link.listener.on_ack(Ack(panic.id, AckStatus.HELP_COMING))
    assert app.feedback.current == "help_coming"
    link.listener.on_ack(Ack(panic.id, AckStatus.RESOLVED))
    assert app.feedback.base != "help_coming"


def test_help_coming_is_never_shown_for_a_duress(
    app: DeviceApp, clock: FakeClock, link: FakeLink
) -> None:
    chord(app, clock)
    clock.advance(1.0)
    (duress,) = link.published
    link.listener.on_ack(Ack(duress.id, AckStatus.HELP_COMING))
    assert app.feedback.current == "acknowledged"  # as for a check-in


def test_prealert_blinks_and_beeps_until_a_checkin(
    app: DeviceApp, clock: FakeClock, link: FakeLink
) -> None:
    led, buzzer = pin(app, LED_PIN), pin(app, BUZZER_PIN)
    led.clear_states()
    buzzer.clear_states()
    app.on_command(Command(new_event_id(), CommandOp.PREALERT))
    assert app.feedback.current == "prealert"
    clock.advance(3.9)
    cycle = [(0.2, 0), (0.2, 1), (0.2, 0), (1.4, 1)]
    assert led_states(led) == [(0.0, 0), (0.0, 1), *cycle, *cycle[:3]]
    assert led_states(buzzer) == [(0.0, 0), (0.0, 1), *cycle, *cycle[:3]]
    tap(app, clock)  # t=3.9 press, 4.0 release, check-in at 4.05
    clock.advance(0.049)
    assert app.feedback.current == "prealert"
    clock.advance(0.001)
    assert app.feedback.current == "waiting"
    assert led_states(buzzer)[-1][1] == 0


def test_prealert_ends_on_a_duress_exactly_as_on_a_checkin(
    app: DeviceApp, clock: FakeClock
) -> None:
    app.on_command(Command(new_event_id(), CommandOp.PREALERT))
    chord(app, clock)
    clock.advance(0.1)
    assert app.feedback.current == "waiting"


def test_hold_starts_a_session_with_steps_and_confirms_them_on_the_led(
    app: DeviceApp, clock: FakeClock, link: FakeLink
) -> None:
    led = pin(app, LED_PIN)
    led.clear_states()
    button = pin(app, CHECKIN_PIN)
    button.drive_low()
    clock.advance(2.5)  # the hold is seen at 2.0
    button.drive_high()
    assert link.published == []
    for _ in range(2):  # two further presses: +30 min each
        clock.advance(1.0)
        tap(app, clock)
    clock.advance(2.899)  # the last press was at 4.6; the steps close at 7.6
    assert link.published == []
    clock.advance(0.001)
    (event,) = link.published
    assert (event.kind, event.minutes) == (EventKind.SESSION_START, 120)
    clock.advance(2.4)
    # online's blip at 4.6; at 7.6 three blinks confirm three steps (0.2 on, 0.3 off), a
    # 0.7 s pause, then waiting for the ack.
    assert led_states(led) == [
        (0.0, 0),
        (4.6, 1),
        (0.05, 0),
        (2.95, 1),
        (0.2, 0),
        (0.3, 1),
        (0.2, 0),
        (0.3, 1),
        (0.2, 0),
        (1.0, 1),
        (0.15, 0),
    ]


def test_session_minutes_are_capped(tmp_path: Path, clock: FakeClock) -> None:
    config = make_config(tmp_path, session={"preset_minutes": 1440})
    link = FakeLink()
    app = started(config, clock, link)
    pin(app, CHECKIN_PIN).drive_low()
    clock.advance(2.0)
    pin(app, CHECKIN_PIN).drive_high()
    tap(app, clock)
    clock.advance(5.0)
    assert [e.minutes for e in link.published] == [1440]
    app.stop("done")


def test_desk_mode_signs_in_and_out_and_reminds(tmp_path: Path, clock: FakeClock) -> None:
    config = make_config(tmp_path, device={"mode": "desk"}, desk={"reminder_interval": 30})
    link = FakeLink()
    app = started(config, clock, link)
    led, buzzer = pin(app, LED_PIN), pin(app, BUZZER_PIN)
    button = pin(app, CHECKIN_PIN)
    led.clear_states()
    button.drive_low()
    clock.advance(1.999)
    assert link.published == []
    clock.advance(0.001)
    assert [e.kind for e in link.published] == [EventKind.SIGN_IN]  # at the hold, still held
    button.drive_high()
    clock.advance(1.0)
    assert led_states(led) == [(0.0, 0), (2.0, 1), (0.2, 0)]  # one blink: signed in
    link.ack(link.published[0].id)  # t=3.0
    assert app.signed_in is True

    clock.advance(2.0)  # past the acknowledged flash and its beep
    buzzer.clear_states()
    clock.advance(30 * 60 - 3.0 + 0.1)  # 30 min after signing in at t=2.0
    assert app.feedback.current == "reminder"
    clock.advance(1.9)
    assert led_states(buzzer) == [(0.0, 0), (1797.0, 1), (0.3, 0), (0.3, 1), (0.3, 0)]
    tap(app, clock)  # a check-in restarts the interval
    clock.advance(0.05)
    clock.advance(29 * 60)
    assert app.feedback.current != "reminder"

    button.drive_low()
    clock.advance(2.0)
    button.drive_high()
    assert [e.kind for e in link.published][-1] == EventKind.SIGN_OUT
    assert app.signed_in is False
    clock.advance(2 * 3600)
    assert app.feedback.current == "waiting"  # no reminders once signed out
    app.stop("done")

    again = started(config, clock, FakeLink())
    assert again.signed_in is False  # the state survives a restart
    again.stop("done")


def test_nothing_cancels_a_panic_in_the_app(
    app: DeviceApp, clock: FakeClock, link: FakeLink
) -> None:
    pin(app, PANIC_PIN).drive_low()
    clock.advance(3.0)
    pin(app, PANIC_PIN).drive_high()
    tap(app, clock)  # check-in
    clock.advance(1.0)
    chord(app, clock)  # duress
    clock.advance(1.0)
    pin(app, CHECKIN_PIN).drive_low()  # session hold
    clock.advance(6.0)
    pin(app, CHECKIN_PIN).drive_high()
    kinds = [e.kind for e in app.outbox.pending()]
    assert kinds[0] == EventKind.PANIC and EventKind.PANIC not in kinds[1:]
    assert kinds[1:] == [EventKind.CHECKIN, EventKind.DURESS, EventKind.SESSION_START]
