"""In-memory timers for deadlines that live in the store.

Every deadline is a wall-clock time kept in the database (so it survives restarts); the
scheduler turns it into a monotonic delay when it is registered, so a later wall-clock step
neither fires nor loses it. Callbacks run on the hub's event loop and receive the *logical*
firing time: the due time plus the real lateness, or, for a deadline already past when it was
registered (after downtime), the time it was registered (``loop_timer`` carries each
timer from the clock to the loop). Code that walks a ladder uses that
time, never the wall clock at the moment of firing.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from loneguard.protocol.clock import Clock, Timer
from loneguard.server.loop_timer import call_later_on_loop

log = logging.getLogger(__name__)

Callback = Callable[[int], Awaitable[None] | None]


@dataclass
class _Scheduled:
    due_ms: int
    logical_base_ms: int
    monotonic_due: float
    timer: Timer


class _NoTimer:
    def cancel(self) -> None:
        pass


class Scheduler:
    def __init__(self, clock: Clock, loop: asyncio.AbstractEventLoop) -> None:
        self._clock = clock
        self._loop = loop
        self._timers: dict[str, _Scheduled] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.fired = 0
        # How late each timer ran, for /metrics and the timers benchmark.
        self.lateness_ms: deque[float] = deque(maxlen=100_000)

    def at(self, key: str, due_ms: int, callback: Callback, *, now_ms: int | None = None) -> None:
        """Run ``callback(logical_now_ms)`` at ``due_ms``; replaces any timer under ``key``.

        ``now_ms`` is the wall time ``due_ms`` is measured from; a timer's callback that arms
        the next deadline passes its logical time, so a chain of deadlines keeps to one
        timeline even if the wall clock is stepped while it runs.
        """
        self.cancel(key)
        now_ms = self._clock.wall_ms() if now_ms is None else now_ms
        delay = max(0.0, (due_ms - now_ms) / 1000)
        base = max(due_ms, now_ms)
        monotonic_due = self._clock.monotonic() + delay

        def on_loop() -> None:
            self._fire(key, entry, callback)

        timer = call_later_on_loop(self._clock, self._loop, delay, on_loop)
        entry = _Scheduled(due_ms, base, monotonic_due, timer)
        self._timers[key] = entry

    def soon(self, key: str, due_ms: int, callback: Callback, *, now_ms: int | None = None) -> None:
        """As ``at``, but a deadline already past runs on the loop's next turn, without waiting
        for the clock's thread (a fake clock would otherwise hold it until the next advance)."""
        now_ms = self._clock.wall_ms() if now_ms is None else now_ms
        if due_ms > now_ms:
            self.at(key, due_ms, callback, now_ms=now_ms)
            return
        self.cancel(key)
        entry = _Scheduled(due_ms, now_ms, self._clock.monotonic(), _NoTimer())
        self._timers[key] = entry
        self._loop.call_soon(self._fire, key, entry, callback)

    def cancel(self, key: str) -> None:
        entry = self._timers.pop(key, None)
        if entry is not None:
            entry.timer.cancel()

    def cancel_all(self) -> None:
        """Drop every timer (at shutdown: the deadlines stay in the store)."""
        for key in list(self._timers):
            self.cancel(key)

    def due_ms(self, key: str) -> int | None:
        entry = self._timers.get(key)
        return entry.due_ms if entry else None

    def __len__(self) -> int:
        return len(self._timers)

    def _fire(self, key: str, entry: _Scheduled, callback: Callback) -> None:
        if self._timers.get(key) is not entry:
            return  # cancelled or replaced meanwhile
        del self._timers[key]
        self.fired += 1
        lateness_ms = max(0.0, (self._clock.monotonic() - entry.monotonic_due) * 1000)
        self.lateness_ms.append(lateness_ms)
        logical_now = entry.logical_base_ms + round(lateness_ms)
        try:
            result = callback(logical_now)
        except Exception:
            log.exception("timer %s failed", key)
            return
        if inspect.isawaitable(result):
            task = self._loop.create_task(_log_failure(key, result))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def _log_failure(key: str, awaitable: Awaitable[None]) -> None:
    try:
        await awaitable
    except Exception:
        log.exception("timer %s failed", key)
