"""Forgetting ended visits' addresses, contacts and records after ``console.visit_retention_days``
(and the signal black spots at addresses not visited since).

In the hub the purge runs on its own schedule: at start and then every hour, on the hub's clock.
Opening the board also runs it (at most once an hour), for an app served without the hub.
"""

from __future__ import annotations

import asyncio
import logging

from loneguard.protocol.clock import Clock
from loneguard.server.scheduler import Scheduler
from loneguard.server.store import Store

log = logging.getLogger(__name__)

HOUR_MS = 3_600_000
DAY_MS = 86_400_000
TIMER_KEY = "console.retention"


class RetentionPurge:
    def __init__(self, store: Store, clock: Clock, days: int) -> None:
        self._store = store
        self._clock = clock
        self._days = days
        self._last_ms: int | None = None

    async def maybe_run(self) -> int:
        """Purge now unless it ran in the last hour; how many visits were purged."""
        now = self._clock.wall_ms()
        if self._days <= 0 or (self._last_ms is not None and now - self._last_ms < HOUR_MS):
            return 0
        return await self.run_now()

    async def run_now(self) -> int:
        now = self._clock.wall_ms()
        self._last_ms = now
        before = now - self._days * DAY_MS
        purged = await asyncio.wrap_future(self._store.purge_visit_details(before, now))
        # Black spots are visit addresses too: those not heard from since go as well.
        await asyncio.wrap_future(self._store.purge_signal_spots(before, now))
        return purged

    def schedule(self, scheduler: Scheduler) -> None:
        """Purge at once and then every hour (the hub cancels the timer when it stops)."""
        if self._days <= 0:
            return

        async def run(now_ms: int) -> None:
            scheduler.at(TIMER_KEY, now_ms + HOUR_MS, run, now_ms=now_ms)  # the next, first
            try:
                await self.run_now()
            except Exception:  # the database may be away for a while: try again next hour
                log.exception("purging old visit details failed; trying again in an hour")

        scheduler.soon(TIMER_KEY, self._clock.wall_ms(), run)
