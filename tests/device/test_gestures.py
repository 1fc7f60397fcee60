from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loneguard.device.gestures import (
    ButtonName,
    Gesture,
    GestureInput,
    GestureMachine,
    GestureTiming,
    Recognized,
)
from loneguard.protocol.clock import FakeClock

CHECKIN, PANIC = ButtonName.CHECKIN, ButtonName.PANIC
DESK = GestureTiming(desk=True)


def test_short_press_of_checkin_is_a_checkin_once_the_duress_window_passed() -> None:
    m = GestureMachine(hold_time=3.0)
    assert m.edge(CHECKIN, True, 10.0) == []
    assert m.edge(CHECKIN, False, 10.2) == []
    assert m.next_deadline() == pytest.approx(10.8)
    assert m.tick(10.79) == []
    assert m.tick(10.8) == [Recognized(Gesture.CHECKIN, 10.0, 10.8)]
    assert m.next_deadline() is None


def test_without_a_duress_window_a_checkin_is_recognised_at_the_release() -> None:
    m = GestureMachine(timing=GestureTiming(duress_window=0))
    m.edge(CHECKIN, True, 10.0)
    assert m.edge(CHECKIN, False, 10.2) == [Recognized(Gesture.CHECKIN, 10.0, 10.2)]
    m.edge(CHECKIN, True, 10.3)
    assert m.edge(CHECKIN, False, 10.4) == [Recognized(Gesture.CHECKIN, 10.3, 10.4)]


def test_release_without_press_and_repeated_edges_are_ignored() -> None:
    m = GestureMachine(hold_time=3.0)
    assert m.edge(CHECKIN, False, 1.0) == []
    m.edge(CHECKIN, True, 2.0)
    m.edge(CHECKIN, True, 2.5)  # a repeated edge keeps the first press time
    assert m.edge(CHECKIN, False, 3.0) == []
    assert m.edge(CHECKIN, False, 3.1) == []
    assert m.tick(3.6) == [Recognized(Gesture.CHECKIN, 2.0, 3.6)]


def test_double_press_is_a_duress_at_the_time_a_checkin_would_come() -> None:
    m = GestureMachine()
    m.edge(CHECKIN, True, 10.0)
    m.edge(CHECKIN, False, 10.1)
    assert m.edge(CHECKIN, True, 10.5) == []  # within 0.6 s of the release
    assert m.edge(CHECKIN, False, 10.6) == []
    assert m.next_deadline() == pytest.approx(10.7)
    assert m.tick(10.7) == [Recognized(Gesture.DURESS, 10.0, 10.7)]  # never also a check-in
    assert m.tick(20.0) == []


def test_a_second_press_after_the_window_is_a_second_checkin() -> None:
    m = GestureMachine()
    m.edge(CHECKIN, True, 10.0)
    m.edge(CHECKIN, False, 10.1)
    # The window passed while no timer ran: the late edge still sees the check-in first.
    assert m.edge(CHECKIN, True, 10.8) == [Recognized(Gesture.CHECKIN, 10.0, 10.8)]
    m.edge(CHECKIN, False, 10.9)
    assert m.tick(11.5) == [Recognized(Gesture.CHECKIN, 10.8, 11.5)]


def test_the_second_press_of_a_duress_is_used_up_even_when_held() -> None:
    m = GestureMachine()
    m.edge(CHECKIN, True, 10.0)
    m.edge(CHECKIN, False, 10.1)
    m.edge(CHECKIN, True, 10.3)
    assert m.tick(10.7) == [Recognized(Gesture.DURESS, 10.0, 10.7)]
    assert m.next_deadline() is None  # no long hold from the used-up press
    assert m.tick(15.0) == []
    assert m.edge(CHECKIN, False, 15.0) == []
    assert m.next_deadline() is None


def test_triple_press_is_one_duress() -> None:
    m = GestureMachine()
    for t in (10.0, 10.3, 10.5):
        m.edge(CHECKIN, True, t)
        m.edge(CHECKIN, False, t + 0.1)
    assert m.tick(10.7) == [Recognized(Gesture.DURESS, 10.0, 10.7)]
    assert m.tick(12.0) == []


def test_checkin_held_starts_a_session_and_presses_add_steps() -> None:
    m = GestureMachine()
    m.edge(CHECKIN, True, 10.0)
    assert m.next_deadline() == 12.0
    assert m.tick(12.0) == []  # the hold is seen; presses may follow
    assert m.edge(CHECKIN, False, 12.5) == []
    assert m.next_deadline() == 15.0  # step_window after the hold
    m.edge(CHECKIN, True, 14.0)
    m.edge(CHECKIN, False, 14.1)
    m.edge(CHECKIN, True, 16.0)
    m.edge(CHECKIN, False, 16.1)
    assert m.next_deadline() == 19.0
    assert m.tick(18.99) == []
    assert m.tick(19.0) == [Recognized(Gesture.SESSION_START, 10.0, 19.0, steps=3)]
    assert m.next_deadline() is None


def test_session_hold_alone_is_one_step_and_no_checkin() -> None:
    m = GestureMachine()
    m.edge(CHECKIN, True, 10.0)
    assert m.edge(CHECKIN, False, 12.1) == []  # a late release still counts the hold
    assert m.tick(15.1) == [Recognized(Gesture.SESSION_START, 10.0, 15.1, steps=1)]


def test_desk_mode_hold_signs_in_or_out_at_the_hold_time() -> None:
    m = GestureMachine(timing=DESK)
    m.edge(CHECKIN, True, 10.0)
    assert m.tick(12.0) == [Recognized(Gesture.SIGN, 10.0, 12.0)]
    assert m.edge(CHECKIN, False, 13.0) == []
    assert m.next_deadline() is None
    m.edge(CHECKIN, True, 14.0)  # a short press afterwards is a check-in as ever
    m.edge(CHECKIN, False, 14.1)
    assert m.tick(14.7) == [Recognized(Gesture.CHECKIN, 14.0, 14.7)]


def test_bad_timing_is_refused() -> None:
    with pytest.raises(ValueError):
        GestureTiming(hold_time=0)
    with pytest.raises(ValueError):
        GestureTiming(duress_window=-1)


def test_panic_fires_at_press_plus_hold_time_while_held() -> None:
    m = GestureMachine(hold_time=3.0)
    m.edge(PANIC, True, 10.0)
    assert m.next_deadline() == 13.0
    assert m.tick(12.99) == []
    assert m.tick(13.0) == [Recognized(Gesture.PANIC, 10.0, 13.0)]
    assert m.next_deadline() is None
    assert m.tick(20.0) == []
    assert m.edge(PANIC, False, 21.0) == []


def test_panic_released_early_does_nothing() -> None:
    m = GestureMachine(hold_time=3.0)
    m.edge(PANIC, True, 10.0)
    assert m.edge(PANIC, False, 12.9) == []
    assert m.next_deadline() is None


def test_late_release_still_counts_the_hold() -> None:
    # The timer may not have run yet (a busy clock thread); the hold happened all the same.
    m = GestureMachine(hold_time=3.0)
    m.edge(PANIC, True, 10.0)
    assert m.edge(PANIC, False, 13.5) == [Recognized(Gesture.PANIC, 10.0, 13.5)]


def test_checkin_does_not_cancel_a_panic() -> None:
    m = GestureMachine(hold_time=3.0)
    m.edge(PANIC, True, 10.0)
    m.edge(CHECKIN, True, 11.0)
    m.edge(CHECKIN, False, 11.1)
    assert m.tick(11.7) == [Recognized(Gesture.CHECKIN, 11.0, 11.7)]
    assert m.tick(13.0) == [Recognized(Gesture.PANIC, 10.0, 13.0)]
    # Nor does a duress, a session hold or anything else: no gesture has an undo.
    m.edge(PANIC, False, 13.5)
    m.edge(CHECKIN, True, 14.0)
    m.edge(CHECKIN, False, 14.1)
    m.edge(CHECKIN, True, 14.2)
    m.edge(CHECKIN, False, 14.3)
    assert [r.gesture for r in m.tick(14.7)] == [Gesture.DURESS]


@given(st.lists(st.tuples(st.booleans(), st.floats(0.01, 5.0)), max_size=30))
def test_one_panic_per_press_held_long_enough(edges: list[tuple[bool, float]]) -> None:
    m = GestureMachine(hold_time=3.0)
    now, pressed_at, expected = 0.0, None, 0
    out: list[Recognized] = []
    for pressed, gap in edges:
        now += gap
        if pressed_at is not None and now - pressed_at >= 3.0:
            out += m.tick(pressed_at + 3.0)  # the timer runs on time
        out += m.edge(PANIC, pressed, now)
        if pressed and pressed_at is None:
            pressed_at = now
        elif not pressed and pressed_at is not None:
            expected += now - pressed_at >= 3.0 - 1e-6
            pressed_at = None
    assert all(r.gesture == Gesture.PANIC and r.at - r.pressed_at >= 3.0 - 1e-6 for r in out)
    assert len(out) == expected + (1 if pressed_at is not None and now - pressed_at >= 3.0 else 0)


def test_input_fires_panic_from_a_clock_timer(clock: FakeClock) -> None:
    seen: list[Recognized] = []
    gestures = GestureInput(GestureMachine(hold_time=3.0), clock, seen.append)
    start = clock.monotonic()
    gestures.edge(PANIC, True)
    clock.advance(2.999)
    assert seen == []
    clock.advance(0.001)
    assert seen == [Recognized(Gesture.PANIC, start, start + 3.0)]
    gestures.edge(PANIC, False)
    assert len(seen) == 1


def test_input_early_release_cancels_the_timer(clock: FakeClock) -> None:
    seen: list[Recognized] = []
    gestures = GestureInput(GestureMachine(hold_time=3.0), clock, seen.append)
    gestures.edge(PANIC, True)
    clock.advance(1.0)
    gestures.edge(PANIC, False)
    assert clock.pending() == 0
    clock.advance(10.0)
    assert seen == []


def test_input_closed_ignores_everything(clock: FakeClock) -> None:
    seen: list[Recognized] = []
    gestures = GestureInput(GestureMachine(hold_time=1.0), clock, seen.append)
    gestures.edge(PANIC, True)
    gestures.close()
    clock.advance(5.0)
    gestures.edge(CHECKIN, True)
    gestures.edge(CHECKIN, False)
    assert seen == []
