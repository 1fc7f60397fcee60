"""The hub's dead-man's switch on devices: a device in a session must not go quiet.

A last will (status ``offline``) opens a ``device_offline`` alarm for the device's live session
at once. A device that stops sending heartbeats is caught by a sweep every third of the bound:
a device heard from before whose last message is older than ``offline_after`` opens the same
alarm. One alarm per session: a device that flaps does not open a pile of them.

Heartbeats reach the store in batches (``ingest/heartbeats.py``): the hub's memory has the exact
time it last heard each device, the store's may be up to one flush interval older. So the sweep
takes this hub's own time where it has one, and credits a stored time with the flush interval
(a heartbeat heard then may be unsaved, by a hub that crashed or by another hub on the same
PostgreSQL). The bound is exact on a lone hub that heard the device itself; from the store only
(after a restart) an alarm may open up to one flush interval late, never early. With several
hubs each hears only its share of a device's heartbeats, so every time is credited.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from loneguard.protocol.clock import Clock
from loneguard.protocol.messages import DeviceState, Status
from loneguard.server.scheduler import Scheduler
from loneguard.server.store import Alarm, AlarmKind, Session, SessionState, Store

log = logging.getLogger(__name__)

SWEEP_KEY = "offline-sweep"


class OfflineWatch:
    def __init__(
        self,
        store: Store,
        scheduler: Scheduler,
        clock: Clock,
        offline_after_s: float,
        on_alarm: Callable[[Alarm], None],
        *,
        heard_ms: Callable[[str], int | None] | None = None,
        unflushed_s: float = 0.0,
        alone: bool = True,
    ) -> None:
        """``heard_ms``: when this hub last heard a device (its memory); ``unflushed_s``: how
        much older than that the store's time may be; ``alone``: no other hub hears the
        devices."""
        self._store = store
        self._heard_ms = heard_ms
        self._unflushed_ms = round(unflushed_s * 1000)
        self._alone = alone
        self._scheduler = scheduler
        self._clock = clock
        self._bound_ms = round(offline_after_s * 1000)
        self._on_alarm = on_alarm
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._arm(self._clock.wall_ms())

    def stop(self) -> None:
        self._scheduler.cancel(SWEEP_KEY)

    def status_changed(self, device_id: str, status: Status) -> None:
        """An ingest status listener: the last will of a device in a session."""
        if status.state != DeviceState.OFFLINE:
            return
        session = self._store.live_session(device_id)
        if session is not None:
            self._spawn(self._open(session, self._clock.wall_ms(), "last will"))

    async def sweep(self, now_ms: int) -> None:
        """Open an alarm for every session whose device has been silent too long."""
        try:
            for session in self._store.sessions():
                if session.state == SessionState.ENDED or session.device_id is None:
                    continue
                last = self._last_heard(session.device_id)
                if last is None:
                    continue  # never heard from: there is no heartbeat to lose
                if now_ms - max(last, session.started_ms) > self._bound_ms:
                    await self._open(session, now_ms, "heartbeats stopped")
        finally:
            self._arm(now_ms)

    def _last_heard(self, device_id: str) -> int | None:
        """The latest time the device can have been heard, by the store and this hub."""
        heard = self._heard_ms(device_id) if self._heard_ms is not None else None
        device = self._store.device(device_id)
        stored = None
        if device is not None and device.last_seen_ms is not None:
            stored = max(device.last_seen_ms, device.last_heartbeat_ms or 0)
        if stored is None:
            return heard if heard is None or self._alone else heard + self._unflushed_ms
        if heard is not None and heard >= stored and self._alone:
            return heard  # this hub's own time: nothing newer can be unsaved
        return max(heard or 0, stored) + self._unflushed_ms

    def _arm(self, now_ms: int) -> None:
        due = now_ms + max(1000, self._bound_ms // 3)
        self._scheduler.at(SWEEP_KEY, due, self.sweep, now_ms=now_ms)

    async def _open(self, session: Session, now_ms: int, why: str) -> None:
        kind = AlarmKind.DEVICE_OFFLINE
        future = self._store.open_session_alarm(session.id, kind, str(kind), now_ms)
        alarm = await asyncio.wrap_future(future)
        if alarm is not None:
            log.info("alarm %d opened: device offline (%s), session %d", alarm.id, why, session.id)
            self._on_alarm(alarm)

    def _spawn(self, work: asyncio.Future[None] | object) -> None:
        assert asyncio.iscoroutine(work)
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
