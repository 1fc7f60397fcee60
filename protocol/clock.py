"""The one injected clock: wall time for timestamps and display, monotonic time for durations.

Code never calls ``time`` directly; it is handed a ``Clock``. ``SystemClock`` runs timers on one
scheduler thread; ``FakeClock`` runs them only when a test calls ``advance``, each at its exact
due time, so tests assert times exactly and never sleep.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

log = logging.getLogger(__name__)


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def wall_ms(self) -> int:
        """Milliseconds since the Unix epoch: for timestamps people read, never for durations."""
        ...

    def monotonic(self) -> float:
        """Seconds that only move forward: for every duration and deadline."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` once, ``delay`` monotonic seconds from now, on the clock's thread."""
        ...


class _Entry:
    __slots__ = ("callback", "cancelled", "due", "order")

    def __init__(self, due: float, order: int, callback: Callable[[], None]) -> None:
        self.due = due
        self.order = order
        self.callback = callback
        self.cancelled = False

    def __lt__(self, other: _Entry) -> bool:
        return (self.due, self.order) < (other.due, other.order)

    def cancel(self) -> None:
        self.cancelled = True


class _Schedule:
    """A heap of timers shared by both clocks."""

    def __init__(self) -> None:
        self._heap: list[_Entry] = []
        self._order = itertools.count()

    def add(self, due: float, callback: Callable[[], None]) -> _Entry:
        entry = _Entry(due, next(self._order), callback)
        heapq.heappush(self._heap, entry)
        return entry

    def next_due(self) -> float | None:
        while self._heap and self._heap[0].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0].due if self._heap else None

    def pop_due(self, now: float) -> _Entry | None:
        due = self.next_due()
        if due is None or due > now:
            return None
        return heapq.heappop(self._heap)

    def live(self) -> int:
        """Timers neither run nor cancelled."""
        return sum(1 for e in self._heap if not e.cancelled)


class SystemClock:
    """Real time, with one daemon thread running every timer in due order."""

    def __init__(self) -> None:
        self._schedule = _Schedule()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def wall_ms(self) -> int:
        return time.time_ns() // 1_000_000

    def monotonic(self) -> float:
        return time.monotonic()

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        with self._wake:
            entry = self._schedule.add(time.monotonic() + max(0.0, delay), callback)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="clock", daemon=True)
                self._thread.start()
            self._wake.notify()
        return entry

    def _run(self) -> None:
        while True:
            with self._wake:
                entry = self._schedule.pop_due(time.monotonic())
                if entry is None:
                    due = self._schedule.next_due()
                    self._wake.wait(None if due is None else max(0.0, due - time.monotonic()))
                    continue
            if not entry.cancelled:
                try:
                    entry.callback()
                except Exception:  # a failing callback must not stop every later timer
                    log.exception("timer callback failed")


class FakeClock:
    """Time that moves only when a test says so. Timers run inside ``advance``."""

    def __init__(self, wall_ms: int = 1_767_225_600_000, monotonic: float = 1000.0) -> None:
        self._wall_offset_ms = wall_ms - int(monotonic * 1000)
        self._now = monotonic
        self._schedule = _Schedule()
        self._lock = threading.RLock()

    def wall_ms(self) -> int:
        with self._lock:
            return round(self._now * 1000) + self._wall_offset_ms

    def monotonic(self) -> float:
        with self._lock:
            return self._now

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        with self._lock:
            return self._schedule.add(self._now + max(0.0, delay), callback)

    def advance(self, seconds: float) -> None:
        """Move time forward, running each timer at its own due time, in order."""
        with self._lock:
            end = self._now + seconds
            while (entry := self._schedule.pop_due(end)) is not None:
                self._now = max(self._now, entry.due)
                if not entry.cancelled:
                    entry.callback()
            self._now = end

    def step_wall(self, seconds: float) -> None:
        """Jump the wall clock (an NTP correction, a wrong RTC) without moving monotonic time."""
        with self._lock:
            self._wall_offset_ms += int(seconds * 1000)

    def pending(self) -> int:
        with self._lock:
            return self._schedule.live()
