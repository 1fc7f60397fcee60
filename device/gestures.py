"""The one place that turns button edges into gestures.

``GestureMachine`` is pure: edges and ticks go in with their monotonic time, recognised gestures
come out, and ``next_deadline`` says when it next needs a tick. ``GestureInput`` drives it from
pin callbacks and one timer on the injected clock.

Gestures today:

- check-in pressed and released: ``CHECKIN``, at the release;
- panic held for ``hold_time``: ``PANIC``, at press + ``hold_time`` while still held (once per
  press); released sooner: nothing.

Nothing cancels a panic. Later gestures (a double press for duress, held check-in for session
presets) add per-button deadlines here; ``next_deadline`` already takes the earliest of them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from protocol.clock import Clock, Timer

# Timers computed as "now + (deadline - now)" can land a rounding error early.
_EPSILON = 1e-6


class ButtonName(StrEnum):
    CHECKIN = "checkin"
    PANIC = "panic"


class Gesture(StrEnum):
    CHECKIN = "checkin"
    PANIC = "panic"


@dataclass(frozen=True)
class Recognized:
    gesture: Gesture
    pressed_at: float  # monotonic time of the press that began the gesture
    at: float  # monotonic time the gesture was recognised


class GestureMachine:
    """Edges and ticks in, gestures out; no clock, no threads, no hardware."""

    def __init__(self, hold_time: float) -> None:
        if hold_time <= 0:
            raise ValueError("hold_time must be positive")
        self.hold_time = hold_time
        self._pressed_at: dict[ButtonName, float] = {}
        self._panic_fired = False

    def is_pressed(self, button: ButtonName) -> bool:
        return button in self._pressed_at

    def edge(self, button: ButtonName, pressed: bool, now: float) -> list[Recognized]:
        if pressed:
            if button not in self._pressed_at:  # a repeated edge is not a new press
                self._pressed_at[button] = now
                if button is ButtonName.PANIC:
                    self._panic_fired = False
            return self.tick(now)
        pressed_at = self._pressed_at.get(button)
        if pressed_at is None:
            return []
        out = self.tick(now)  # a late release still counts the hold that happened
        del self._pressed_at[button]
        if button is ButtonName.CHECKIN:
            out.append(Recognized(Gesture.CHECKIN, pressed_at, now))
        return out

    def tick(self, now: float) -> list[Recognized]:
        deadline = self._panic_deadline()
        if deadline is not None and now >= deadline - _EPSILON:
            self._panic_fired = True
            return [Recognized(Gesture.PANIC, self._pressed_at[ButtonName.PANIC], now)]
        return []

    def next_deadline(self) -> float | None:
        return self._panic_deadline()

    def _panic_deadline(self) -> float | None:
        pressed_at = self._pressed_at.get(ButtonName.PANIC)
        if pressed_at is None or self._panic_fired:
            return None
        return pressed_at + self.hold_time


class GestureInput:
    """Feeds a ``GestureMachine`` from pin callbacks and keeps one clock timer at its deadline.

    ``emit`` is called outside the lock, on whichever thread saw the edge or ran the timer.
    """

    def __init__(
        self, machine: GestureMachine, clock: Clock, emit: Callable[[Recognized], None]
    ) -> None:
        self._machine = machine
        self._clock = clock
        self._emit = emit
        self._lock = threading.Lock()
        self._timer: Timer | None = None
        self._timer_due: float | None = None
        self._closed = False

    def edge(self, button: ButtonName, pressed: bool) -> None:
        with self._lock:
            if self._closed:
                return
            out = self._machine.edge(button, pressed, self._clock.monotonic())
            self._reschedule()
        self._deliver(out)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
            self._timer = None

    def _on_timer(self) -> None:
        with self._lock:
            self._timer = None
            self._timer_due = None
            if self._closed:
                return
            out = self._machine.tick(self._clock.monotonic())
            self._reschedule()
        self._deliver(out)

    def _reschedule(self) -> None:
        due = self._machine.next_deadline()
        if due == self._timer_due:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_due = due
        if due is not None:
            self._timer = self._clock.call_later(due - self._clock.monotonic(), self._on_timer)

    def _deliver(self, recognized: list[Recognized]) -> None:
        for r in recognized:
            self._emit(r)
