from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from device.gestures import ButtonName, Gesture, GestureInput, GestureMachine, Recognized
from protocol.clock import FakeClock

CHECKIN, PANIC = ButtonName.CHECKIN, ButtonName.PANIC


def test_short_press_of_checkin_is_a_checkin_at_the_release() -> None:
    m = GestureMachine(hold_time=3.0)
    assert m.edge(CHECKIN, True, 10.0) == []
    assert m.edge(CHECKIN, False, 10.2) == [Recognized(Gesture.CHECKIN, 10.0, 10.2)]


def test_release_without_press_and_repeated_edges_are_ignored() -> None:
    m = GestureMachine(hold_time=3.0)
    assert m.edge(CHECKIN, False, 1.0) == []
    m.edge(CHECKIN, True, 2.0)
    m.edge(CHECKIN, True, 2.5)  # a repeated edge keeps the first press time
    assert m.edge(CHECKIN, False, 3.0) == [Recognized(Gesture.CHECKIN, 2.0, 3.0)]
    assert m.edge(CHECKIN, False, 3.1) == []


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
    assert m.edge(CHECKIN, False, 11.1) == [Recognized(Gesture.CHECKIN, 11.0, 11.1)]
    assert m.tick(13.0) == [Recognized(Gesture.PANIC, 10.0, 13.0)]


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
