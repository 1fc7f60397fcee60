"""The one place that turns button edges into gestures.

``GestureMachine`` is pure: edges and ticks go in with their monotonic time, recognised gestures
come out, and ``next_deadline`` says when it next needs a tick. ``GestureInput`` drives it from
pin callbacks and one timer on the injected clock.

A release counts once the button has stayed up for ``settle`` (50 ms): a press that comes back
sooner is contact bounce, and the press goes on as if it had never let go. So one human press is
one press here, however its contacts chatter.

Gestures:

- check-in pressed and released: ``CHECKIN``, at the release (+ ``settle``). Every press is its
  own check-in, at any speed: eight quick presses are eight check-ins, never anything else.
- the covert duress gesture (``duress = "chord"``, the default): panic pressed and held, then,
  while it is still held (at least ``duress_lead`` seconds after panic went down, before the
  panic hold completes), check-in pressed and released: ``DURESS``, recognised at the check-in's
  release exactly as a check-in would be. The panic press is used up: it raises no panic
  however long it is held afterwards. ``duress = "off"``: there is no duress gesture, and
  check-in pressed while panic is held is a plain check-in. No sequence of check-in presses
  alone can ever make a duress: the gesture needs the panic button down first.
- check-in held for ``long_hold`` (default 2 s): in pocket mode a session start. Each further
  press within ``step_window`` of the previous one adds a step; ``SESSION_START`` with
  ``steps`` (1 + the further presses) is recognised once ``step_window`` passes without a press.
  In desk mode the hold is ``SIGN`` (sign in or out), recognised at press + ``long_hold``.
- panic held for ``hold_time``: ``PANIC``, at press + ``hold_time`` while still held (once per
  press); released sooner: a panic tap, which raises nothing.
- panic tapped ``signal_taps`` (3) times, each tap starting within ``signal_window`` (1 s) of the
  last one's release: ``SIGNAL_REPORT`` ("poor signal here"), at the last release.

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
    SIGNAL_REPORT = "signal_report"


class DuressGesture(StrEnum):
    CHORD = "chord"  # panic held, check-in pressed and released, before the panic hold completes
    OFF = "off"


@dataclass(frozen=True)
class Recognized:
    gesture: Gesture
    pressed_at: float  # monotonic time of the press that began the gesture
    at: float  # monotonic time the gesture was recognised
    steps: int = 0  # SESSION_START: the preset (1) plus one per further press


@dataclass(frozen=True)
class GestureTiming:
    hold_time: float = 3.0  # panic hold
    long_hold: float = 2.0  # check-in hold: session start (pocket) or sign in/out (desk)
    step_window: float = 3.0  # a further press within this adds a session step
    desk: bool = False
    duress: DuressGesture = DuressGesture.CHORD
    duress_lead: float = 0.25  # panic down at least this long before check-in goes down
    settle: float = 0.05  # a release shorter than this is contact bounce
    signal_taps: int = 3
    signal_window: float = 1.0

    def __post_init__(self) -> None:
        if self.hold_time <= 0:
            raise ValueError("hold_time must be positive")
        if self.long_hold <= 0 or self.step_window <= 0 or self.signal_window <= 0:
            raise ValueError("gesture windows must be positive")
        if not 0 <= self.settle < 0.2:
            raise ValueError("settle must be at least 0 and under 0.2 s")
        if not 0 < self.duress_lead < self.hold_time:
            raise ValueError("duress_lead must be positive and shorter than hold_time")
        if self.signal_taps < 2:
            raise ValueError("signal_taps must be at least 2")


def _due(deadline: float | None, now: float) -> bool:
    return deadline is not None and now >= deadline - _EPSILON


class GestureMachine:
    """Edges and ticks in, gestures out; no clock, no threads, no hardware."""

    def __init__(self, hold_time: float = 3.0, timing: GestureTiming | None = None) -> None:
        self.timing = timing if timing is not None else GestureTiming(hold_time)
        self.hold_time = self.timing.hold_time
        self._pressed_at: dict[ButtonName, float] = {}
        # A release waiting out ``settle``: (press time, release time).
        self._releasing: dict[ButtonName, tuple[float, float]] = {}
        # The panic press in progress is used up: it raised a panic or began a duress.
        self._panic_used = False
        # The check-in press in progress: used up (a session step) or already recognised as a
        # long hold; either way its release means nothing more.
        self._checkin_done = False
        self._checkin_duress = False  # this check-in press completes the duress chord
        self._steps = 0
        self._steps_deadline: float | None = None
        self._session_pressed_at = 0.0
        self._taps = 0
        self._first_tap_at = 0.0
        self._taps_deadline: float | None = None  # last tap's release + signal_window

    def is_pressed(self, button: ButtonName) -> bool:
        return button in self._pressed_at or button in self._releasing

    def edge(self, button: ButtonName, pressed: bool, now: float) -> list[Recognized]:
        out = self.tick(now)  # deadlines that passed before this edge come first
        if pressed:
            if button in self._pressed_at:
                return out  # a repeated edge is not a new press
            bounced = self._releasing.pop(button, None)
            if bounced is not None:
                self._pressed_at[button] = bounced[0]  # bounce: the press goes on
                return out
            self._pressed_at[button] = now
            if button is ButtonName.PANIC:
                self._panic_used = False
            else:
                self._checkin_pressed(now)
            out += self.tick(now)
            return out
        pressed_at = self._pressed_at.pop(button, None)
        if pressed_at is None:
            return out
        if self.timing.settle <= 0:
            return out + self._released(button, pressed_at, now)
        self._releasing[button] = (pressed_at, now)
        return out

    def _checkin_pressed(self, now: float) -> None:
        self._checkin_done = False
        self._checkin_duress = False
        panic_at = self._pressed_at.get(ButtonName.PANIC)
        if (
            self.timing.duress is DuressGesture.CHORD
            and panic_at is not None
            and not self._panic_used
            and now - panic_at >= self.timing.duress_lead - _EPSILON
        ):
            self._checkin_duress = True
            self._panic_used = True  # from now on this panic press raises nothing
            self._taps, self._taps_deadline = 0, None
        elif self._steps_deadline is not None:
            self._steps += 1
            self._steps_deadline = now + self.timing.step_window
            self._checkin_done = True

    def _released(self, button: ButtonName, pressed_at: float, at: float) -> list[Recognized]:
        """A release that has settled; ``at`` is when it is recognised."""
        if button is ButtonName.PANIC:
            return self._panic_released(pressed_at, at)
        done, self._checkin_done = self._checkin_done, False
        duress, self._checkin_duress = self._checkin_duress, False
        if duress:
            return [Recognized(Gesture.DURESS, pressed_at, at)]
        if done:
            return []
        return [Recognized(Gesture.CHECKIN, pressed_at, at)]

    def _panic_released(self, pressed_at: float, at: float) -> list[Recognized]:
        if self._panic_used:
            self._taps, self._taps_deadline = 0, None
            return []
        if self._taps == 0:
            self._first_tap_at = pressed_at
        self._taps += 1
        if self._taps >= self.timing.signal_taps:
            self._taps, self._taps_deadline = 0, None
            return [Recognized(Gesture.SIGNAL_REPORT, self._first_tap_at, at)]
        self._taps_deadline = at + self.timing.signal_window
        return []

    def tick(self, now: float) -> list[Recognized]:
        out: list[Recognized] = []
        for button, (pressed_at, released_at) in list(self._releasing.items()):
            if _due(released_at + self.timing.settle, now):
                del self._releasing[button]
                out += self._released(button, pressed_at, now)
        if _due(self._panic_deadline(), now):
            self._panic_used = True
            self._taps, self._taps_deadline = 0, None
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
        if _due(self._steps_deadline, now):
            out.append(
                Recognized(Gesture.SESSION_START, self._session_pressed_at, now, self._steps)
            )
            self._steps_deadline = None
            self._steps = 0
        if _due(self._taps_deadline_if_idle(), now):
            self._taps, self._taps_deadline = 0, None
        return out

    def next_deadline(self) -> float | None:
        deadlines = [
            d
            for d in (
                self._panic_deadline(),
                self._long_deadline(),
                self._steps_deadline,
                self._taps_deadline_if_idle(),
                *(r + self.timing.settle for _, r in self._releasing.values()),
            )
            if d is not None
        ]
        return min(deadlines) if deadlines else None

    def _taps_deadline_if_idle(self) -> float | None:
        # A tap under way (panic down or settling) counts when it is released: no expiry yet.
        if ButtonName.PANIC in self._pressed_at or ButtonName.PANIC in self._releasing:
            return None
        return self._taps_deadline

    def _panic_deadline(self) -> float | None:
        pressed_at = self._pressed_at.get(ButtonName.PANIC)
        if pressed_at is None or self._panic_used:
            return None
        return pressed_at + self.hold_time

    def _long_deadline(self) -> float | None:
        pressed_at = self._pressed_at.get(ButtonName.CHECKIN)
        if pressed_at is None or self._checkin_done or self._checkin_duress:
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
