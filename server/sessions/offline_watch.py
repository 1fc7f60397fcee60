"""The hub's dead-man's switch on devices: a device in a session must not go quiet.

A last will (status ``offline``) opens a ``device_offline`` alarm for the device's live session
at once. A device that stops sending heartbeats is caught by a sweep every third of the bound:
a device heard from before whose last message is older than ``offline_after`` opens the same
alarm. One alarm per session: a device that flaps does not open a pile of them.

Heartbeats reach the store in batches (``ingest/heartbeats.py``): this hub's memory has the
exact time it last heard each device, the store's may be older by the heartbeats a crashed hub
had not yet flushed. So the sweep takes the later of the two, and its own start counts as
hearing every device: after a restart no false alarm comes from a last-seen the crash lost, and
a device silent since before the restart opens its alarm one bound after the start. While the
hub runs the bound is exact. With several hubs on one PostgreSQL each hears
only its share of a device's heartbeats, so every time is credited with the flush interval the
other hubs may not yet have written (``others_unsaved_s``): an alarm may open that much late.
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
        others_unsaved_s: float = 0.0,
    ) -> None:
        """``heard_ms``: when this hub last heard a device (its memory, not yet stored);
        ``others_unsaved_s``: how long other hubs hold heartbeats before storing them."""
        self._store = store
        self._heard_ms = heard_ms
        self._others_unsaved_ms = round(others_unsaved_s * 1000)
        self._started_ms = 0
        self._scheduler = scheduler
        self._clock = clock
        self._bound_ms = round(offline_after_s * 1000)
        self._on_alarm = on_alarm
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        self._started_ms = self._clock.wall_ms()
        self._arm(self._started_ms)

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
        """The latest time the device may have been heard; None: never heard."""
        heard = self._heard_ms(device_id) if self._heard_ms is not None else None
        device = self._store.device(device_id)
        stored = None
        if device is not None and device.last_seen_ms is not None:
            stored = max(device.last_seen_ms, device.last_heartbeat_ms or 0)
        if heard is None and stored is None:
            return None
        last = max(heard or 0, stored or 0) + self._others_unsaved_ms
        return max(last, self._started_ms)

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
