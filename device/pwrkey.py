"""Power-cycling the modem through its PWRKEY line: the last step of recovering a hung modem.

The GPIO drives an NPN transistor that pulls PWRKEY low while the GPIO is high (hw/pinmap.toml).
SIMCom modules (SIM7600, SIM800, A7670) switch off after PWRKEY is held low for 2.5 s or more
and switch on after 0.5 s or more. So a power cycle is: hold ``off_pulse`` (3 s), let the module
shut down for ``off_wait`` (5 s), hold ``on_pulse`` (1 s). If the module was already off, the
first pulse switches it on and the second is too short to switch it off again: the same sequence
works from either state.

Each edge is a timer on the injected clock, so a test asserts the pin's exact states and times.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from gpiozero import DigitalOutputDevice

from loneguard.protocol.clock import Clock, Timer

log = logging.getLogger(__name__)

OFF_PULSE = 3.0
OFF_WAIT = 5.0
ON_PULSE = 1.0
# Real seconds a caller waits for the sequence beyond its own length before giving up: guards
# against a clock that never moves (a test that forgot to advance it).
GIVE_UP_AFTER = 60.0


class PwrKey:
    """The modem's PWRKEY on one GPIO; ``power_cycle()`` blocks until the sequence has played."""

    def __init__(
        self,
        pin: int,
        clock: Clock,
        *,
        pin_factory: Any,
        off_pulse: float = OFF_PULSE,
        off_wait: float = OFF_WAIT,
        on_pulse: float = ON_PULSE,
    ) -> None:
        self._output = DigitalOutputDevice(pin, pin_factory=pin_factory)
        self._clock = clock
        self._edges = ((0.0, True), (off_pulse, False), (off_wait, True), (on_pulse, False))
        self._on_pulse = on_pulse
        self._lock = threading.Lock()
        self._timers: list[Timer] = []

    @property
    def pin(self) -> Any:
        return self._output.pin

    def power_cycle(self) -> None:
        """Off (if on) and on again: the last step of recovering a hung modem."""
        self._play(self._edges)

    def power_on(self) -> None:
        """One ``on_pulse`` press: switches on a module that is off (at boot, when it is silent).

        Shorter than the 2.5 s that would switch a running module off, so it is safe to give
        when unsure whether the module is on.
        """
        self._play(((0.0, True), (self._on_pulse, False)))

    def _play(self, edges: tuple[tuple[float, bool], ...]) -> None:
        done = threading.Event()
        with self._lock:
            at = 0.0
            for delay, on in edges[1:]:
                at += delay
                self._timers.append(self._clock.call_later(at, self._edge(on)))
            self._timers.append(self._clock.call_later(at, done.set))
            self._output.on()  # after the timers exist: a clock advanced from now plays them all
        log.warning("modem: PWRKEY pressed (%gs sequence)", at)
        finished = done.wait(at + GIVE_UP_AFTER)
        self._cancel()
        if not finished:
            log.error("modem: PWRKEY sequence did not finish; released the key")
            self._output.off()

    def close(self) -> None:
        self._cancel()
        self._output.close()

    def _edge(self, on: bool) -> Any:
        def change() -> None:
            if on:
                self._output.on()
            else:
                self._output.off()

        return change

    def _cancel(self) -> None:
        with self._lock:
            timers, self._timers = self._timers, []
        for timer in timers:
            timer.cancel()
