"""What the worker sees (and hears): named LED patterns played on the injected clock.

A pattern is data: (on, seconds) steps, repeated or played once. ``Feedback`` shows one *base*
pattern (online, offline, waiting, prealert, help_coming) and can *flash* a one-shot pattern over
it (starting, acknowledged, reminder, or ``confirm(n)``: n blinks confirming a session's length);
when the flash ends the base pattern starts again from its first step. Every step
is a ``clock.call_later``, never gpiozero's blink thread, so tests assert the exact times.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from loneguard.protocol.clock import Clock, Timer


class Switch(Protocol):
    """An on/off output: a gpiozero ``LED`` or ``Buzzer``."""

    def on(self) -> None: ...

    def off(self) -> None: ...


@dataclass(frozen=True)
class Pattern:
    name: str
    steps: tuple[tuple[bool, float], ...]  # (on, seconds)
    repeat: bool
    buzzer: bool = False  # the buzzer follows the LED through this pattern

    def __post_init__(self) -> None:
        if not self.steps or any(seconds < 0 for _, seconds in self.steps):
            raise ValueError(f"pattern {self.name}: needs steps of zero or more seconds")
        if self.repeat and sum(seconds for _, seconds in self.steps) <= 0:
            raise ValueError(f"pattern {self.name}: a repeating pattern needs a duration")

    @property
    def duration(self) -> float:
        return sum(seconds for _, seconds in self.steps)


def _blinks(on: float, off: float, times: int) -> tuple[tuple[bool, float], ...]:
    return ((True, on), (False, off)) * times


CONFIRM_ON, CONFIRM_OFF, CONFIRM_PAUSE = 0.2, 0.3, 0.7

PATTERNS: Mapping[str, Pattern] = {
    p.name: p
    for p in (
        # Three quick blinks at power-up: the firmware runs.
        Pattern("starting", _blinks(0.1, 0.1, 3), repeat=False),
        # A short blip every 5 s: connected, nothing outstanding (and easy on the battery).
        Pattern("online", ((True, 0.05), (False, 4.95)), repeat=True),
        # A slow even blink: no connection to the broker.
        Pattern("offline", ((True, 1.0), (False, 1.0)), repeat=True),
        # A double blink every second: an event waits for the hub's ack.
        Pattern("waiting", ((True, 0.15), (False, 0.15), (True, 0.15), (False, 0.55)), repeat=True),
        # Steady for 1.5 s, with a beep: the hub has the event.
        Pattern("acknowledged", ((True, 1.5), (False, 0.5)), repeat=False, buzzer=True),
        # Blink and beep until the worker checks in: the session's time is nearly up.
        Pattern(
            "prealert",
            ((True, 0.2), (False, 0.2), (True, 0.2), (False, 1.4)),
            repeat=True,
            buzzer=True,
        ),
        # Long on, short off, silent: the hub has the panic and people are on their way. Silent
        # on purpose: a buzzer could give the worker away.
        Pattern("help_coming", ((True, 0.8), (False, 0.2)), repeat=True),
        # Two blinks with beeps (desk mode): time to check in.
        Pattern("reminder", _blinks(0.3, 0.3, 2), repeat=False, buzzer=True),
        # The hub's led_test command.
        Pattern("led_test", ((True, 2.0), (False, 0.5)), repeat=False, buzzer=True),
        # Dark: before start and after stop.
        Pattern("off", ((False, 0.0),), repeat=False),
    )
}


class Feedback:
    """Plays patterns on an LED (and optionally a buzzer) with timers on the injected clock."""

    def __init__(
        self,
        led: Switch,
        clock: Clock,
        *,
        buzzer: Switch | None = None,
        patterns: Mapping[str, Pattern] = PATTERNS,
    ) -> None:
        self._led = led
        self._buzzer = buzzer
        self._clock = clock
        self._patterns = patterns
        self._lock = threading.RLock()
        self._base = patterns["off"]
        self._flash: Pattern | None = None
        self._playing = self._base
        self._step = 0
        self._timer: Timer | None = None
        # Bumped on every cancel, so a timer that already left the clock's queue does nothing.
        self._generation = 0

    @property
    def base(self) -> str:
        return self._base.name

    @property
    def current(self) -> str:
        """The pattern on show now: the flash while one plays, else the base."""
        with self._lock:
            return self._playing.name

    def show(self, name: str) -> None:
        """Make ``name`` the base pattern; it starts now unless a flash is playing."""
        pattern = self._pattern(name)
        with self._lock:
            if pattern is self._base:
                return
            self._base = pattern
            if self._flash is None:
                self._play(pattern)

    def flash(self, name: str) -> None:
        """Play ``name`` once over the base pattern, then restart the base pattern."""
        pattern = self._pattern(name)
        with self._lock:
            self._flash = pattern
            self._play(pattern)

    def confirm(self, count: int) -> None:
        """Flash ``count`` blinks (at least one): e.g. the steps of a session started here."""
        steps = (*_blinks(CONFIRM_ON, CONFIRM_OFF, max(1, count)), (False, CONFIRM_PAUSE))
        with self._lock:
            self._flash = Pattern(f"confirm_{count}", steps, repeat=False)
            self._play(self._flash)

    def stop(self) -> None:
        """Cancel every timer and leave the outputs off."""
        with self._lock:
            self._cancel()
            self._flash = None
            self._base = self._playing = self._patterns["off"]
            self._set(False, buzz=False)

    def _pattern(self, name: str) -> Pattern:
        try:
            return self._patterns[name]
        except KeyError:
            raise ValueError(f"unknown pattern {name!r}") from None

    def _play(self, pattern: Pattern) -> None:
        self._cancel()
        self._playing = pattern
        self._step = 0
        self._run_steps()

    def _run_steps(self) -> None:
        # Zero-length steps apply at once; the first step with a duration waits on a timer.
        while True:
            pattern = self._playing
            if self._step >= len(pattern.steps):
                if pattern.repeat:
                    self._step = 0
                elif pattern is self._flash:
                    self._flash = None
                    self._playing = self._base
                    self._step = 0
                    continue
                else:
                    self._set(False, buzz=False)
                    return
            on, seconds = pattern.steps[self._step]
            self._set(on, buzz=pattern.buzzer and on)
            if seconds > 0:
                self._timer = self._clock.call_later(
                    seconds, functools.partial(self._next_step, self._generation)
                )
                return
            self._step += 1

    def _next_step(self, generation: int) -> None:
        with self._lock:
            if generation != self._generation:
                return
            self._timer = None
            self._step += 1
            self._run_steps()

    def _cancel(self) -> None:
        self._generation += 1
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _set(self, on: bool, *, buzz: bool) -> None:
        if on:
            self._led.on()
        else:
            self._led.off()
        if self._buzzer is not None:
            if buzz:
                self._buzzer.on()
            else:
                self._buzzer.off()
