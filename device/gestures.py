"""The one place that turns button edges into gestures.

``GestureMachine`` is pure: edges and ticks go in with their monotonic time, recognised gestures
come out, and ``next_deadline`` says when it next needs a tick. ``GestureInput`` drives it from
pin callbacks and one timer on the injected clock.

Gestures:

- check-in pressed and released once: ``CHECKIN``, recognised ``duress_window`` (default 0.6 s)
  *after the release*. The wait is the price of the covert duress gesture: until the window has
  passed, a press could still be the first half of a double press, and a duress must never also
  be sent as a check-in. With ``duress_window = 0`` there is no duress gesture and a check-in is
  recognised at the release.
- check-in pressed again within ``duress_window`` of a release: ``DURESS``, recognised at the
  same moment the check-in would have been (release + window), so the two look the same on the
  LED. Further presses inside the window change nothing; the second press is used up, whatever
  its length.
- check-in held for ``long_hold`` (default 2 s): in pocket mode a session start. Each further
  press within ``step_window`` of the previous one adds a step; ``SESSION_START`` with
  ``steps`` (1 + the further presses) is recognised once ``step_window`` passes without a press.
  In desk mode the hold is ``SIGN`` (sign in or out), recognised at press + ``long_hold``.
- panic held for ``hold_time``: ``PANIC``, at press + ``hold_time`` while still held (once per
  press); released sooner: nothing.

Nothing cancels a panic: no gesture here has "undo" semantics.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from loneguard.protocol.clock import Clock, Timer

# Timers computed as "now + (deadline - now)" can land a rounding error early.
_EPSILON = 1e-6


class ButtonName(StrEnum):
    CHECKIN = "checkin"
    PANIC = "panic"


class Gesture(StrEnum):
    CHECKIN = "checkin"
    DURESS = "duress"
    PANIC = "panic"
    SESSION_START = "session_start"
    SIGN = "sign"


@dataclass(frozen=True)
class Recognized:
    gesture: Gesture
    pressed_at: float  # monotonic time of the press that began the gesture
    at: float  # monotonic time the gesture was recognised
    steps: int = 0  # SESSION_START: the preset (1) plus one per further press


@dataclass(frozen=True)
class GestureTiming:
    hold_time: float = 3.0  # panic hold
    duress_window: float = 0.6  # 0: no duress gesture, check-in at the release
    long_hold: float = 2.0  # check-in hold: session start (pocket) or sign in/out (desk)
    step_window: float = 3.0  # a further press within this adds a session step
    desk: bool = False

    def __post_init__(self) -> None:
        if self.hold_time <= 0:
            raise ValueError("hold_time must be positive")
        if self.duress_window < 0 or self.long_hold <= 0 or self.step_window <= 0:
            raise ValueError("gesture windows must be positive (duress_window may be 0)")


def _due(deadline: float | None, now: float) -> bool:
    return deadline is not None and now >= deadline - _EPSILON


class GestureMachine:
    """Edges and ticks in, gestures out; no clock, no threads, no hardware."""

    def __init__(self, hold_time: float = 3.0, timing: GestureTiming | None = None) -> None:
        self.timing = timing if timing is not None else GestureTiming(hold_time)
        self.hold_time = self.timing.hold_time
        self._pressed_at: dict[ButtonName, float] = {}
        self._panic_fired = False
        # The check-in press in progress: used up (second press of a double, a session step)
        # or already recognised as a long hold; either way its release means nothing more.
        self._checkin_done = False
        self._tap_deadline: float | None = None  # release + duress_window
        self._tap_pressed_at = 0.0
        self._tap_double = False
        self._steps = 0
        self._steps_deadline: float | None = None
        self._session_pressed_at = 0.0

    def is_pressed(self, button: ButtonName) -> bool:
        return button in self._pressed_at

    def edge(self, button: ButtonName, pressed: bool, now: float) -> list[Recognized]:
        out = self.tick(now)  # deadlines that passed before this edge come first
        if pressed:
            if button not in self._pressed_at:  # a repeated edge is not a new press
                self._pressed_at[button] = now
                if button is ButtonName.PANIC:
                    self._panic_fired = False
                else:
                    self._checkin_pressed(now)
                out += self.tick(now)
            return out
        pressed_at = self._pressed_at.pop(button, None)
        if pressed_at is not None and button is ButtonName.CHECKIN:
            out += self._checkin_released(pressed_at, now)
        return out

    def _checkin_pressed(self, now: float) -> None:
        self._checkin_done = False
        if self._steps_deadline is not None:
            self._steps += 1
            self._steps_deadline = now + self.timing.step_window
            self._checkin_done = True
        elif self._tap_deadline is not None:
            self._tap_double = True
            self._checkin_done = True

    def _checkin_released(self, pressed_at: float, now: float) -> list[Recognized]:
        done, self._checkin_done = self._checkin_done, False
        if done:
            return []
        if self.timing.duress_window <= 0:
            return [Recognized(Gesture.CHECKIN, pressed_at, now)]
        self._tap_deadline = now + self.timing.duress_window
        self._tap_pressed_at = pressed_at
        self._tap_double = False
        return []

    def tick(self, now: float) -> list[Recognized]:
        out: list[Recognized] = []
        if _due(self._panic_deadline(), now):
            self._panic_fired = True
            out.append(Recognized(Gesture.PANIC, self._pressed_at[ButtonName.PANIC], now))
        if _due(self._long_deadline(), now):
            self._checkin_done = True
            pressed_at = self._pressed_at[ButtonName.CHECKIN]
            if self.timing.desk:
                out.append(Recognized(Gesture.SIGN, pressed_at, now))
            else:
                self._steps = 1
                self._session_pressed_at = pressed_at
                self._steps_deadline = now + self.timing.step_window
        if _due(self._tap_deadline, now):
            gesture = Gesture.DURESS if self._tap_double else Gesture.CHECKIN
            out.append(Recognized(gesture, self._tap_pressed_at, now))
            self._tap_deadline = None
            self._tap_double = False
        if _due(self._steps_deadline, now):
            out.append(
                Recognized(Gesture.SESSION_START, self._session_pressed_at, now, self._steps)
            )
            self._steps_deadline = None
            self._steps = 0
        return out

    def next_deadline(self) -> float | None:
        deadlines = [
            d
            for d in (
                self._panic_deadline(),
                self._long_deadline(),
                self._tap_deadline,
                self._steps_deadline,
            )
            if d is not None
        ]
        return min(deadlines) if deadlines else None

    def _panic_deadline(self) -> float | None:
        pressed_at = self._pressed_at.get(ButtonName.PANIC)
        if pressed_at is None or self._panic_fired:
            return None
        return pressed_at + self.hold_time

    def _long_deadline(self) -> float | None:
        pressed_at = self._pressed_at.get(ButtonName.CHECKIN)
        if pressed_at is None or self._checkin_done:
            return None
        return pressed_at + self.timing.long_hold


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
