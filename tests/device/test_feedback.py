from __future__ import annotations

import pytest
from gpiozero import LED, Buzzer

from loneguard.device.feedback import PATTERNS, Feedback, Pattern
from loneguard.device.simulator import ClockedMockFactory
from loneguard.protocol.clock import FakeClock
from tests.device.helpers import led_states


def test_waiting_repeats_a_double_blink_every_second(
    factory: ClockedMockFactory, clock: FakeClock
) -> None:
    led = LED(22, pin_factory=factory)
    pin = factory.pin(22)
    pin.clear_states()
    feedback = Feedback(led, clock)
    feedback.show("waiting")
    clock.advance(2.0)
    cycle = [(0.15, 0), (0.15, 1), (0.15, 0), (0.55, 1)]
    pin.assert_states_and_times([(0.0, 0), (0.0, 1), *cycle, *cycle])  # gpiozero's own check
    assert led_states(pin) == [(0.0, 0), (0.0, 1), *cycle, *cycle]
    assert feedback.current == "waiting"


def test_showing_the_same_base_again_does_not_restart_it(
    factory: ClockedMockFactory, clock: FakeClock
) -> None:
    led = LED(22, pin_factory=factory)
    pin = factory.pin(22)
    feedback = Feedback(led, clock)
    feedback.show("offline")
    pin.clear_states()
    clock.advance(0.5)
    feedback.show("offline")
    clock.advance(1.0)
    assert led_states(pin) == [(0.0, 1), (1.0, 0)]


def test_a_flash_plays_once_then_the_base_restarts(
    factory: ClockedMockFactory, clock: FakeClock
) -> None:
    led = LED(22, pin_factory=factory)
    pin = factory.pin(22)
    feedback = Feedback(led, clock)
    feedback.show("online")
    pin.clear_states()  # t=0: on since the show
    clock.advance(1.0)
    feedback.flash("acknowledged")
    assert feedback.current == "acknowledged"
    feedback.show("offline")  # a base change waits for the flash to end
    clock.advance(3.0)
    assert feedback.current == "offline"
    assert feedback.base == "offline"
    # online blip off at 0.05; ack on at 1.0 for 1.5 s, off 0.5 s; offline from 3.0: on 1 s.
    assert led_states(pin) == [(0.0, 1), (0.05, 0), (0.95, 1), (1.5, 0), (0.5, 1), (1.0, 0)]


def test_the_buzzer_follows_the_led_only_in_buzzing_patterns(
    factory: ClockedMockFactory, clock: FakeClock
) -> None:
    led, buzzer = LED(22, pin_factory=factory), Buzzer(23, pin_factory=factory)
    buzz_pin = factory.pin(23)
    buzz_pin.clear_states()
    feedback = Feedback(led, clock, buzzer=buzzer)
    feedback.show("waiting")
    clock.advance(1.0)
    feedback.flash("acknowledged")
    clock.advance(3.0)
    assert led_states(buzz_pin) == [(0.0, 0), (1.0, 1), (1.5, 0)]


def test_stop_cancels_timers_and_turns_off(factory: ClockedMockFactory, clock: FakeClock) -> None:
    led = LED(22, pin_factory=factory)
    pin = factory.pin(22)
    feedback = Feedback(led, clock)
    feedback.show("offline")
    feedback.stop()
    assert clock.pending() == 0
    pin.clear_states()
    clock.advance(5.0)
    assert led_states(pin) == [(0.0, 0)]
    assert feedback.current == "off"


def test_patterns_are_distinct_data() -> None:
    for name in ("starting", "online", "offline", "waiting", "acknowledged"):
        assert name in PATTERNS
    shown = [PATTERNS[n].steps for n in ("online", "offline", "waiting", "acknowledged")]
    assert len(set(shown)) == len(shown)
    assert PATTERNS["waiting"].repeat and not PATTERNS["acknowledged"].repeat


def test_bad_patterns_are_refused() -> None:
    with pytest.raises(ValueError, match="needs a duration"):
        Pattern("x", ((True, 0.0),), repeat=True)
    with pytest.raises(ValueError, match="unknown pattern"):
        Feedback(LED(5, pin_factory=ClockedMockFactory(FakeClock())), FakeClock()).show("nope")
