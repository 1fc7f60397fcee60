"""Session deadlines on the scheduler: pre-alert the device, fall due, open the alarm.

Every deadline is ``sessions.next_deadline_ms`` in the store; ``rebuild`` arms them all at hub
start (one already past fires at once) and ``arm`` re-arms a session whenever it changes. At a
deadline the store applies ``sessions.rules.advance`` in one transaction; this module then sends
the pre-alert command (``dev/{id}/cmd``, op ``prealert`` with the due time) or hands the alarm
it opened to the escalation runtime.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from loneguard.protocol.messages import Command, CommandOp, new_event_id
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.ingest.pipeline import Publisher
from loneguard.server.scheduler import Scheduler
from loneguard.server.sessions import rules
from loneguard.server.store import Alarm, AlarmKind, Session, SessionState, Store

log = logging.getLogger(__name__)

CMD_QOS = 1
RETRY_MS = 30_000  # a deadline the store failed to apply is tried again this much later

PolicyFor = Callable[[AlarmKind, Session], str]
OnAlarm = Callable[[Alarm], None]
OnChange = Callable[[Session], None]
# Several hubs: may this hub handle the session's deadline due by this time? (cluster.shared_work)
Claim = Callable[[int, int], Awaitable[bool]]


def timer_key(session_id: int) -> str:
    return f"session:{session_id}"


class SessionTimers:
    def __init__(
        self,
        store: Store,
        scheduler: Scheduler,
        publisher: Publisher,
        *,
        policy_for: PolicyFor,
        on_alarm: OnAlarm,
        on_change: OnChange | None = None,
        claim: Claim | None = None,
    ) -> None:
        self._store = store
        self._scheduler = scheduler
        self._publisher = publisher
        self._policy_for = policy_for
        self._on_alarm = on_alarm
        self._on_change = on_change
        self.claim = claim  # None: one hub, every deadline is this hub's

    def rebuild(self) -> int:
        """Arm every stored deadline (at hub start); how many were armed."""
        live = self._store.sessions_with_deadlines()
        for session in live:
            self.arm(session)
        return len(live)

    def arm(self, session: Session, now_ms: int | None = None) -> None:
        """(Re-)arm a session after any change; an ended or overdue one is disarmed.

        ``now_ms``: the logical time of the deadline that led here, if any."""
        if self._on_change is not None:
            self._on_change(session)
        key = timer_key(session.id)
        if session.state == SessionState.ENDED or session.next_deadline_ms is None:
            self._scheduler.cancel(key)
            return
        self._scheduler.soon(key, session.next_deadline_ms, self._fired(session.id), now_ms=now_ms)

    async def reach(self, session_id: int, now_ms: int) -> None:
        """Apply the deadline, then re-arm: whatever the pre-alert or the alarm's hand-over does
        (raise included), the session's next deadline is armed. If the store itself failed, the
        same deadline is tried again after ``RETRY_MS``."""
        try:
            future = self._store.reach_session_deadline(session_id, now_ms, self._policy_for)
            reached = await asyncio.wrap_future(future)
        except Exception:
            log.exception("session %d: deadline not applied; trying again", session_id)
            self._scheduler.at(
                timer_key(session_id), now_ms + RETRY_MS, self._fired(session_id), now_ms=now_ms
            )
            return
        if reached is None:
            return
        session = reached.advance.session
        try:
            if reached.advance.send_prealert and session.device_id is not None:
                await self._prealert(session)
            if reached.alarm is not None:
                log.info(
                    "alarm %d opened: %s, session %d",
                    reached.alarm.id,
                    reached.alarm.kind,
                    session.id,
                )
                self._on_alarm(reached.alarm)
        finally:
            self.arm(session, now_ms)

    def _fired(self, session_id: int) -> Callable[[int], Awaitable[None]]:
        def fire(logical_now_ms: int) -> Awaitable[None]:
            if self.claim is None:
                return self.reach(session_id, logical_now_ms)
            return self._reach_claimed(session_id, logical_now_ms)

        return fire

    async def _reach_claimed(self, session_id: int, now_ms: int) -> None:
        assert self.claim is not None
        if await self.claim(session_id, now_ms):
            await self.reach(session_id, now_ms)
            return
        # Another hub handled it (or is handling it): follow the session's next deadline, so
        # this hub can take it if that hub is gone by then.
        session = self._store.session(session_id)
        if session is not None and (session.next_deadline_ms or 0) > now_ms:
            self.arm(session, now_ms)

    async def _prealert(self, session: Session) -> None:
        assert session.device_id is not None
        try:
            command = Command(new_event_id(), CommandOp.PREALERT, due_ts=rules.due_ms(session))
            topic = str(DeviceTopic(session.device_id, Channel.CMD))
            await self._publisher.publish(topic, command.encode(), qos=CMD_QOS)
        except Exception as exc:  # the deadline itself still stands: the alarm will follow
            log.warning("could not pre-alert %s: %s", session.device_id, exc)
