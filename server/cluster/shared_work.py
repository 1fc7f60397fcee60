"""Several hubs on one PostgreSQL: who does which timed job, and who takes over a dead hub's.

Every hub arms in-memory timers for the deadlines it hears about (as a lone hub does), but acts
on one only after *claiming* it in the database (``store.leases``): a due session deadline
is claimed for the lease time and let go in the transaction that handles it; an open alarm is
claimed by one hub, which runs its whole ladder and renews the claim every third of the lease.
Every ``cluster.poll`` each hub sweeps for due deadlines and open alarms that no live hub holds:
that is how a dead hub's work moves on, within the lease time. What is done once is decided by
the database (the claim, and the unique idempotency key of each notification), never by timing.
``LeaseClaims`` makes the claims: the session timers and the escalation runtime are built with
it, and ``SharedWork`` (built after them) sweeps and renews.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import Future

from loneguard.protocol.clock import Clock
from loneguard.server.escalation.runtime import Escalation
from loneguard.server.scheduler import Scheduler
from loneguard.server.sessions.timers import SessionTimers
from loneguard.server.store import Store
from loneguard.server.store.leases import LeaseRows

log = logging.getLogger(__name__)

POLL_KEY = "cluster-poll"
RENEW_KEY = "cluster-renew"


class LeaseClaims:
    """This hub's claims on timed work: the session timers and the escalation runtime ask before
    acting, and ``SharedWork`` sweeps and renews with them."""

    def __init__(self, store: LeaseRows, clock: Clock, *, owner: str, lease_s: float) -> None:
        self.store = store
        self._clock = clock
        self.owner = owner
        self.lease_ms = round(lease_s * 1000)

    async def claim_session(self, session_id: int, due_ms: int) -> bool:
        """Claim a session whose deadline is due by ``due_ms`` (the timer's logical time)."""
        ids = await self.run(
            lambda now: self.store.claim_sessions(
                self.owner, now, self.lease_ms, session_id=session_id, due_by_ms=due_ms
            )
        )
        return ids == [session_id]

    async def claim_alarm(self, alarm_id: int) -> bool:
        ids = await self.run(
            lambda now: self.store.claim_alarms(self.owner, now, self.lease_ms, alarm_id=alarm_id)
        )
        return ids == [alarm_id]

    async def run(self, claim: Callable[[int], Future[list[int]]]) -> list[int]:
        # Lease times are on the wall clock (every hub's must be in step: NTP); the due time
        # of a deadline is the timer's logical time.
        return await asyncio.wrap_future(claim(self._clock.wall_ms()))


class SharedWork:
    def __init__(
        self,
        claims: LeaseClaims,
        reader: Store,
        scheduler: Scheduler,
        clock: Clock,
        *,
        poll_s: float,
        timers: SessionTimers,
        escalation: Escalation,
    ) -> None:
        self._claims = claims
        self._store = claims.store
        self._reader = reader
        self._scheduler = scheduler
        self._clock = clock
        self.owner = claims.owner
        self._lease_ms = claims.lease_ms
        self._poll_ms = round(poll_s * 1000)
        self._timers = timers
        self._escalation = escalation
        self.taken_over = 0  # alarms and deadlines taken from a hub that let go (for tests)

    def start(self) -> None:
        now = self._clock.wall_ms()
        self._scheduler.at(POLL_KEY, now + self._poll_ms, self.poll, now_ms=now)
        self._scheduler.at(RENEW_KEY, now + self._lease_ms // 3, self.renew, now_ms=now)

    async def stop(self) -> None:
        """Let go of every claim, so the other hubs take the work over at their next sweep."""
        self._scheduler.cancel(POLL_KEY)
        self._scheduler.cancel(RENEW_KEY)
        try:
            await asyncio.wrap_future(self._store.release_leases(self.owner))
        except Exception as exc:  # they run out by themselves within the lease time
            log.warning("could not release this hub's leases: %s", exc)

    async def poll(self, now_ms: int) -> None:
        """Take over due deadlines and open alarms that no live hub holds."""
        try:
            sessions = await self._claims.run(
                lambda now: self._store.claim_sessions(
                    self.owner, now, self._lease_ms, others_only=True, due_by_ms=now_ms
                )
            )
            alarms = await self._claims.run(
                lambda now: self._store.claim_alarms(
                    self.owner, now, self._lease_ms, others_only=True
                )
            )
            for session_id in sessions:
                self.taken_over += 1
                await self._timers.reach(session_id, now_ms)
            for alarm_id in alarms:
                self.taken_over += 1
                log.info("alarm %d: taking its ladder over (no live hub held it)", alarm_id)
                await self._escalation.take_over(alarm_id, now_ms)
        except Exception:
            log.exception("the sweep for unclaimed work failed")
        finally:
            self._scheduler.at(POLL_KEY, now_ms + self._poll_ms, self.poll, now_ms=now_ms)

    async def renew(self, now_ms: int) -> None:
        """Keep this hub's claims; stop the ladders of alarms closed on another hub."""
        try:
            closed = await self._claims.run(
                lambda now: self._store.renew_leases(self.owner, now, self._lease_ms)
            )
            for alarm_id in closed:
                alarm = self._reader.alarm(alarm_id)
                if alarm is not None:
                    self._escalation.alarm_changed(alarm)
        except Exception as exc:
            log.error("could not renew this hub's leases: %s", exc)
        finally:
            due = now_ms + self._lease_ms // 3
            self._scheduler.at(RENEW_KEY, due, self.renew, now_ms=now_ms)
