"""Heartbeats held in memory, their last-seen written in batches.

A fleet's heartbeats are the hub's busiest traffic (10,000 units at one every 30 s is 333 a
second) and each only says "still here, with this signal and battery". So a heartbeat is not a
store write of its own: ``HeartbeatBook`` keeps, per device, when it was last heard (this hub's
exact time, read by the offline watch) and its newest unsaved heartbeat; every ``flush_s`` one
``store.record_last_seen`` writes all the devices heard since the last flush in one transaction,
and a clean stop (``ingest.drain``) writes the rest. What the store shows (the API's and the
console's devices) is therefore at most one flush interval old while the hub runs; what a crash
loses is at most one flush interval of last-seen times, which the offline watch allows for
(``sessions/offline_watch.py``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from loneguard.protocol.clock import Clock
from loneguard.protocol.messages import Heartbeat
from loneguard.server.scheduler import Scheduler
from loneguard.server.store import LastHeard, Store

log = logging.getLogger(__name__)

FLUSH_KEY = "heartbeat-flush"


class HeartbeatBook:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock
        self._heard_ms: dict[str, int] = {}  # every device this hub heard since it started
        self._unsaved: dict[str, LastHeard] = {}
        self._scheduler: Scheduler | None = None
        self._flush_ms = 0
        self._flushing: asyncio.Lock | None = None
        self._also: list[Callable[[bool], Awaitable[None]]] = []

    def flush_with(self, flush: Callable[[bool], Awaitable[None]]) -> None:
        """Also run ``flush(everything)`` at each flush: what others gather from heartbeats
        (``everything`` at a drain or a stop, when nothing may be left in memory)."""
        self._also.append(flush)

    def heard(self, device_id: str, heartbeat: Heartbeat, received_ms: int) -> None:
        """Take one heartbeat (in memory only: the next flush stores it)."""
        if received_ms < self._heard_ms.get(device_id, received_ms):
            return  # an older heartbeat than one already taken says nothing new
        self._heard_ms[device_id] = received_ms
        self._unsaved[device_id] = LastHeard(
            device_id, received_ms, heartbeat.rssi, heartbeat.battery, heartbeat.queued
        )

    def last_heard_ms(self, device_id: str) -> int | None:
        """When this hub last heard a heartbeat of the device (exact, stored or not)."""
        return self._heard_ms.get(device_id)

    @property
    def unsaved(self) -> int:
        return len(self._unsaved)

    def start(self, scheduler: Scheduler, flush_s: float) -> None:
        """Flush every ``flush_s`` on ``scheduler`` until ``stop``."""
        self._scheduler = scheduler
        self._flush_ms = max(1, round(flush_s * 1000))
        self._arm(None)

    async def stop(self) -> None:
        """No more timed flushes; what is unsaved is written now."""
        if self._scheduler is not None:
            self._scheduler.cancel(FLUSH_KEY)
            self._scheduler = None
        await self.flush()

    async def flush(self, everything: bool = True) -> None:
        """Write every device heard since the last flush, in one transaction; ``everything``:
        also all that the ``flush_with`` flushes hold, not only what they are done with."""
        if self._flushing is None:
            self._flushing = asyncio.Lock()
        # One flush at a time, so a later batch never lands before an earlier one.
        async with self._flushing:
            await self._write()
            for flush in self._also:
                try:
                    await flush(everything)
                except Exception:
                    log.exception("a heartbeat flush failed")

    async def _write(self) -> None:
        if not self._unsaved:
            return
        batch, self._unsaved = self._unsaved, {}
        try:
            await asyncio.wrap_future(self._store.record_last_seen(list(batch.values())))
        except Exception as exc:
            log.error("could not store the last-seen of %d devices: %s", len(batch), exc)
            for device_id, row in batch.items():  # kept for the next flush
                self._unsaved.setdefault(device_id, row)

    async def _tick(self, now_ms: int) -> None:
        try:
            await self.flush(everything=False)
        finally:
            if self._scheduler is not None:
                self._arm(now_ms)

    def _arm(self, now_ms: int | None) -> None:
        assert self._scheduler is not None
        now_ms = self._clock.wall_ms() if now_ms is None else now_ms
        self._scheduler.at(FLUSH_KEY, now_ms + self._flush_ms, self._tick, now_ms=now_ms)
