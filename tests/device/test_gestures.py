from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loneguard.device.gestures import (
    ButtonName,
    DuressGesture,
    Gesture,
    GestureInput,
    GestureMachine,
    GestureTiming,
    Recognized,
)
from loneguard.protocol.clock import FakeClock

CHECKIN, PANIC = ButtonName.CHECKIN, ButtonName.PANIC
DESK = GestureTiming(desk=True)
SETTLE = GestureTiming().settle


def press(m: GestureMachine, button: ButtonName, at: float, length: float) -> list[Recognized]:
    """Press ``button`` at ``at`` for ``length`` seconds and let the release settle."""
    out = m.edge(button, True, at)
    out += m.tick(at + length)
    out += m.edge(button, False, at + length)
    return out + m.tick(at + length + SETTLE)


def test_short_press_of_checkin_is_a_checkin_once_the_release_settles() -> None:
    m = GestureMachine(hold_time=3.0)
    assert m.edge(CHECKIN, True, 10.0) == []
    assert m.edge(CHECKIN, False, 10.2) == []
    assert m.next_deadline() == pytest.approx(10.25)
    assert m.tick(10.24) == []
    assert m.tick(10.25) == [Recognized(Gesture.CHECKIN, 10.0, 10.25)]
    assert m.next_deadline() is None


def test_contact_bounce_within_the_settle_time_is_one_press() -> None:
    m = GestureMachine()
    m.edge(CHECKIN, True, 10.0)
    for t in (10.002, 10.006, 10.010):  # chatter as the contacts close
        m.edge(CHECKIN, False, t)
        m.edge(CHECKIN, True, t + 0.002)
    m.edge(CHECKIN, False, 10.2)
    m.edge(CHECKIN, True, 10.21)  # and as they open
    m.edge(CHECKIN, False, 10.22)
    assert m.tick(11.0) == [Recognized(Gesture.CHECKIN, 10.0, 11.0)]


def test_release_without_press_and_repeated_edges_are_ignored() -> None:
    m = GestureMachine(hold_time=3.0)
    assert m.edge(CHECKIN, False, 1.0) == []
    m.edge(CHECKIN, True, 2.0)
    m.edge(CHECKIN, True, 2.5)  # a repeated edge keeps the first press time
    assert m.edge(CHECKIN, False, 3.0) == []
    assert m.edge(CHECKIN, False, 3.01) == []
    assert m.tick(3.1) == [Recognized(Gesture.CHECKIN, 2.0, 3.1)]


def test_each_quick_press_of_checkin_is_its_own_checkin() -> None:
    m = GestureMachine()
    out: list[Recognized] = []
    for i in range(8):
        out += press(m, CHECKIN, 10.0 + i * 0.25, 0.1)
    assert [r.gesture for r in out] == [Gesture.CHECKIN] * 8
    assert [r.pressed_at for r in out] == [10.0 + i * 0.25 for i in range(8)]


def test_duress_is_checkin_clicked_while_panic_is_held() -> None:
    m = GestureMachine()
    m.edge(PANIC, True, 10.0)
    assert m.edge(CHECKIN, True, 10.5) == []
    assert m.next_deadline() is None  # the panic hold is used up, and no long hold either
    assert m.edge(CHECKIN, False, 10.6) == []
    assert m.tick(10.65) == [Recognized(Gesture.DURESS, 10.5, 10.65)]  # as a check-in would
    assert m.tick(20.0) == []  # held on past the hold time: still no panic
    assert m.edge(PANIC, False, 20.0) == []
    assert m.tick(25.0) == []


def test_both_buttons_squeezed_at_once_are_no_duress() -> None:
    m = GestureMachine()
    m.edge(PANIC, True, 10.0)
    m.edge(CHECKIN, True, 10.05)  # within duress_lead: a squeeze, not the chord
    m.edge(CHECKIN, False, 10.3)
    assert m.tick(10.35) == [Recognized(Gesture.CHECKIN, 10.05, 10.35)]
    assert m.tick(13.0) == [Recognized(Gesture.PANIC, 10.0, 13.0)]  # the panic hold goes on


def test_checkin_after_the_panic_fired_is_a_checkin_and_the_panic_stands() -> None:
    m = GestureMachine()
    m.edge(PANIC, True, 10.0)
    assert m.tick(13.0) == [Recognized(Gesture.PANIC, 10.0, 13.0)]
    assert press(m, CHECKIN, 13.5, 0.1) == [Recognized(Gesture.CHECKIN, 13.5, 13.65)]


def test_with_the_duress_gesture_off_the_chord_is_a_checkin_and_a_panic() -> None:
    m = GestureMachine(timing=GestureTiming(duress=DuressGesture.OFF))
    m.edge(PANIC, True, 10.0)
    assert press(m, CHECKIN, 10.5, 0.1) == [Recognized(Gesture.CHECKIN, 10.5, 10.65)]
    assert m.tick(13.0) == [Recognized(Gesture.PANIC, 10.0, 13.0)]


def test_three_panic_taps_are_a_signal_report() -> None:
    m = GestureMachine()
    assert press(m, PANIC, 10.0, 0.2) == []
    assert press(m, PANIC, 10.6, 0.2) == []
    assert press(m, PANIC, 11.2, 0.2) == [Recognized(Gesture.SIGNAL_REPORT, 10.0, 11.45)]
    assert m.next_deadline() is None


def test_panic_taps_too_far_apart_report_nothing() -> None:
    m = GestureMachine()
    out = press(m, PANIC, 10.0, 0.2) + press(m, PANIC, 11.5, 0.2) + press(m, PANIC, 13.0, 0.2)
    assert out == []


def test_a_panic_hold_between_taps_starts_the_count_again() -> None:
    m = GestureMachine()
    out = press(m, PANIC, 10.0, 0.2) + press(m, PANIC, 10.6, 3.2)
    assert [r.gesture for r in out] == [Gesture.PANIC]
    assert press(m, PANIC, 14.0, 0.2) == []


def test_checkin_held_starts_a_session_and_presses_add_steps() -> None:
    m = GestureMachine()
    m.edge(CHECKIN, True, 10.0)
    assert m.next_deadline() == 12.0
    assert m.tick(12.0) == []  # the hold is seen; presses may follow
    assert m.edge(CHECKIN, False, 12.5) == []
    assert m.next_deadline() == 12.55  # the release settles
    assert m.tick(12.55) == []
    assert m.next_deadline() == 15.0  # step_window after the hold
    press(m, CHECKIN, 14.0, 0.1)
    press(m, CHECKIN, 16.0, 0.1)
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
    assert m.tick(13.1) == []
    assert m.next_deadline() is None
    # a short press afterwards is a check-in as ever
    assert press(m, CHECKIN, 14.0, 0.1) == [Recognized(Gesture.CHECKIN, 14.0, 14.15)]


def test_bad_timing_is_refused() -> None:
    with pytest.raises(ValueError):
        GestureTiming(hold_time=0)
    with pytest.raises(ValueError):
        GestureTiming(duress_lead=3.0)  # not shorter than the panic hold
    with pytest.raises(ValueError):
        GestureTiming(settle=0.5)


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
    assert m.tick(12.95) == []
    assert m.tick(20.0) == []


def test_late_release_still_counts_the_hold() -> None:
    # The timer may not have run yet (a busy clock thread); the hold happened all the same.
    m = GestureMachine(hold_time=3.0)
    m.edge(PANIC, True, 10.0)
    assert m.edge(PANIC, False, 13.5) == [Recognized(Gesture.PANIC, 10.0, 13.5)]


def test_checkin_does_not_cancel_a_panic() -> None:
    m = GestureMachine(hold_time=3.0)
    m.edge(PANIC, True, 10.0)
    assert m.tick(13.0) == [Recognized(Gesture.PANIC, 10.0, 13.0)]
    # Nor does a duress, a session hold or anything else after it: no gesture has an undo.
    assert [r.gesture for r in press(m, CHECKIN, 14.0, 0.1)] == [Gesture.CHECKIN]
    m.edge(PANIC, False, 14.5)
    assert m.tick(20.0) == []


@settings(max_examples=150)
@given(st.lists(st.tuples(st.booleans(), st.floats(0.01, 5.0)), max_size=30))
def test_one_panic_per_press_held_long_enough(edges: list[tuple[bool, float]]) -> None:
    m = GestureMachine(timing=GestureTiming(settle=0))
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
    panics = [r for r in out if r.gesture is Gesture.PANIC]
    assert all(r.at - r.pressed_at >= 3.0 - 1e-6 for r in panics)
    assert len(panics) == expected + (
        1 if pressed_at is not None and now - pressed_at >= 3.0 else 0
    )


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
    clock.advance(10.0)
    assert clock.pending() == 0
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
