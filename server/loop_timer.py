"""The one bridge from the injected clock's timers to the hub's asyncio event loop.

A ``Clock`` runs its callbacks on its own thread (``SystemClock``) or inside a test's ``advance``
(``FakeClock``), while the hub's state lives on the event loop. ``call_later_on_loop`` times on
the clock and runs the callback on the loop, so every timed part of the hub (the scheduler, the
notification retries, the SMS gateway's back-off) waits on the clock tests drive.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from loneguard.protocol.clock import Clock, Timer


class LoopTimer:
    """A clock timer whose callback runs on an event loop.

    ``cancel`` holds even once the clock has handed the callback to the loop: the handover and
    the cancel may cross between the clock's thread and the loop's.
    """

    def __init__(
        self,
        clock: Clock,
        loop: asyncio.AbstractEventLoop,
        delay: float,
        callback: Callable[[], None],
    ) -> None:
        self._loop = loop
        self._callback = callback
        self._cancelled = False
        self._clock_timer: Timer = clock.call_later(delay, self._from_clock)

    def cancel(self) -> None:
        self._cancelled = True
        self._clock_timer.cancel()

    def _from_clock(self) -> None:
        if self._cancelled:
            return
        # RuntimeError: the loop has closed, the hub has stopped and nobody waits any more.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._on_loop)

    def _on_loop(self) -> None:
        if not self._cancelled:
            self._callback()


def call_later_on_loop(
    clock: Clock,
    loop: asyncio.AbstractEventLoop,
    delay: float,
    callback: Callable[[], None],
) -> Timer:
    """Run ``callback`` on ``loop``, ``delay`` monotonic seconds from now on ``clock``."""
    return LoopTimer(clock, loop, delay, callback)


async def sleep_on(clock: Clock, seconds: float) -> None:
    """Wait ``seconds`` of ``clock``'s monotonic time (the fake clock's too, as tests drive it)."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def wake() -> None:
        if not done.done():
            done.set_result(None)

    timer = call_later_on_loop(clock, loop, seconds, wake)
    try:
        await done
    finally:
        timer.cancel()


__all__ = ["LoopTimer", "call_later_on_loop", "sleep_on"]
