"""The escalation runtime: walks each open alarm's ladder until a person takes charge.

For an alarm it asks ``ladder.next_actions`` what is due at the scheduler's logical time, turns
each action into one notification row per (recipient, channel), writes all of them in ONE
transaction (``INSERT OR IGNORE`` on the idempotency key ``alarm:step:repeat:role:ref:channel``)
and dispatches only the rows that transaction created. The ladder's next deadline is stored on
the alarm and armed in the scheduler. After a restart ``resume`` re-sends rows still ``pending``
and re-evaluates every open ladder, so no step is skipped and none is sent twice. Every attempt the
dispatcher makes is written down by ``NotificationLog``, built before the dispatcher that the
runtime sends through.

Each row's text is rendered when the row is made, per channel and per recipient's role, from the
alarm's facts (``facts``, ``notify.messages``), and stored: a resend says the same thing. A row the
hub cannot send, because its channel is not configured, the recipient has no number or URL for
it (``Dispatch.gap``) or nobody fills the role, is stored as ``not_configured`` and never sent;
so is a covert alarm's row to a number that is the worker's own mobile.

The ``arc`` channel (the Alarm Receiving Centre) makes one row per alarm, not per recipient or
repeat: its key is the ARC event's (``alarm:<id>:open``), so a second step or repeat naming
``arc`` finds it written and sends nothing. On a hub with no ARC configured the shipped policies'
``arc`` makes no row at all; a policy from the config that names it gets a ``not_configured``
row, as for any channel the hub lacks (``policy.uses_arc_explicitly``). The ARC link keeps
sending by itself (``notify.arc_channel``), so taking charge does not stop it; a row left pending
is recorded as sent once the link has the message acked (``arc_link_changed``); and at start
every pending ``arc`` row is handed to the link again, the alarm open or not: the link knows
each event by its key and sends it once.

Times: alarms start at a wall-clock millisecond kept in the store; the ladder gets seconds on
that same timeline, so it survives restarts.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from loneguard.protocol.clock import Clock
from loneguard.server.arc.events import ArcAlarmEvent
from loneguard.server.escalation import ladder
from loneguard.server.escalation.directory import CONSOLE, Directory, Found
from loneguard.server.escalation.facts import alarm_facts
from loneguard.server.escalation.keyed_locks import KeyedLocks
from loneguard.server.escalation.notify.arc_channel import ARC_RECIPIENT, ARC_REF, row_text
from loneguard.server.escalation.notify.arc_channel import CHANNEL as ARC
from loneguard.server.escalation.notify.call_channel import CONSOLE_TASK
from loneguard.server.escalation.notify.messages import (
    THIRD_PARTIES,
    AlarmFacts,
    MessageStyle,
    fill,
    render,
)
from loneguard.server.escalation.notify.notification import DeliveryResult, Notification, Recipient
from loneguard.server.escalation.policy import Policy, is_shipped
from loneguard.server.escalation.priority_gate import PriorityGate
from loneguard.server.phone import legacy
from loneguard.server.scheduler import Scheduler
from loneguard.server.store import (
    Alarm,
    AlarmKind,
    AlarmState,
    NewNotification,
    NotificationAttempt,
    NotificationRow,
    NotificationState,
    Store,
)
from loneguard.server.store.arc_records import ArcMessageState

log = logging.getLogger(__name__)

# Their notifications go ahead of other alarms' whenever a channel has sends waiting.
URGENT_KINDS = frozenset({AlarmKind.PANIC, AlarmKind.DURESS})
# Ladder evaluations under way at once: enough that their rows share the store's transactions.
EVALUATIONS_AT_ONCE = 32

# Half a millisecond: the store keeps whole milliseconds, so a step due within it is due now.
_EPSILON_S = 0.0005

Publish = Callable[[str, dict[str, Any]], object]
# Several hubs: may this hub run the alarm's ladder? (``cluster.shared_work``)
Claim = Callable[[int], Awaitable[bool]]
# Told of every change of an alarm after its ladder (the ARC's restoral on resolve).
AlarmListener = Callable[[Alarm], None]


class Dispatch(Protocol):
    max_attempts: int

    async def dispatch(self, n: Notification, *, attempt: int = 1) -> DeliveryResult | None: ...

    def cancel(self, alarm_id: int) -> int: ...

    def gap(self, channel: str, recipient: Recipient) -> str | None: ...


def timer_key(alarm_id: int) -> str:
    return f"alarm:{alarm_id}"


@dataclass(frozen=True)
class Opened:
    """An alarm as its opening committed it, and the facts read when it was announced."""

    alarm: Alarm
    facts: AlarmFacts


class Escalation:
    def __init__(
        self,
        store: Store,
        scheduler: Scheduler,
        policies: Mapping[str, Policy],
        directory: Directory,
        clock: Clock,
        *,
        dispatcher: Dispatch | None = None,
        publish: Publish | None = None,
        claim: Claim | None = None,
        style: MessageStyle | None = None,
        listeners: Sequence[AlarmListener] = (),
    ) -> None:
        self._store = store
        self._style = style if style is not None else MessageStyle()
        self._scheduler = scheduler
        self._policies = policies
        self.directory = directory  # who each role means; the console shows whom to ring
        self._clock = clock
        self._publish = publish
        self.dispatcher = dispatcher  # None: ladders are written down but nothing is sent
        # One evaluation of each alarm's ladder at a time (the store is the truth); different
        # alarms' evaluations overlap, so their rows share the writer's transactions.
        self._locks = KeyedLocks()
        # At most this many evaluations at once, a panic's first: a flood of alarms waits here,
        # parked, instead of filling the event loop's queue ahead of the timers that fire.
        self._evaluations = PriorityGate(EVALUATIONS_AT_ONCE)
        self.claim = claim  # None: one hub, every ladder is this hub's
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listeners = tuple(listeners)

    # -- entry points ---------------------------------------------------------------------------
    def alarm_opened(self, alarm: Alarm) -> None:
        """Start the ladder now (from the alarm's own start time)."""
        facts = self._tell("alarm", alarm)
        started = alarm.started_ms if alarm.started_ms is not None else alarm.opened_ms
        urgent = alarm.kind in URGENT_KINDS
        self._spawn(self._evaluate_claimed(alarm.id, started, urgent, Opened(alarm, facts)))

    def alarm_changed(self, alarm: Alarm) -> None:
        """Acknowledged, resolved or answered by a check-in: stop the ladder and every retry."""
        if alarm.state != AlarmState.OPEN or alarm.checked_in_ms is not None:
            self._scheduler.cancel(timer_key(alarm.id))
            if self.dispatcher is not None:
                self.dispatcher.cancel(alarm.id)
        self._tell("alarm", alarm)
        for listener in self._listeners:
            try:
                listener(alarm)
            except Exception:  # one broken listener must not keep the change from the others
                log.exception("alarm %d: a listener of its changes failed", alarm.id)

    async def resume(self) -> None:
        """At start: re-send pending rows of open alarms, then catch every ladder up.

        A few reads for every alarm at once (the open alarms, the pending rows, which ladders
        have begun), not a few per alarm: with thousands of alarms open the hub is serving
        within a fraction of a second. A ladder whose next step is still to come is only armed
        for it; one that has ended (begun, no next step) has nothing to do; the others (a step
        due while the hub was down, a ladder that never began) are evaluated in the background,
        through the same gate as any evaluation, so the hub does not wait for them to start.
        """
        now_ms = self._clock.wall_ms()
        pending: dict[int, list[NotificationRow]] = {}
        for row in self._store.notifications(state=NotificationState.PENDING):
            pending.setdefault(row.alarm_id, []).append(row)
        begun = self._store.ladders_begun()
        for alarm in self._store.alarms(AlarmState.OPEN):
            if self.claim is not None and not await self.claim(alarm.id):
                continue  # a live hub runs it
            if alarm.checked_in_ms is not None:
                continue  # answered by a check-in: its ladder has stopped
            self._send_pending(alarm, pending.get(alarm.id, ()))
            urgent = alarm.kind in URGENT_KINDS
            next_ms = alarm.next_step_ms
            if alarm.id in begun and next_ms is None:
                continue  # the ladder has ended: the alarm waits for a person
            if alarm.id in begun and next_ms is not None and next_ms > now_ms:
                fire = self._fired(alarm.id, urgent)
                self._scheduler.soon(timer_key(alarm.id), next_ms, fire, now_ms=now_ms)
            else:
                self._spawn(self.evaluate(alarm.id, now_ms, urgent=urgent))
        self._hand_over_arc_rows(
            [row for rows in pending.values() for row in rows if row.channel == ARC]
        )

    def arc_link_changed(self) -> None:
        """The ARC link's state changed (an ack, say): its pending rows may be done now."""
        self._spawn(self._settle_arc_rows())

    async def _settle_arc_rows(self) -> None:
        """Pending ARC rows whose message the link has since had acked are asked of the link
        again: it answers from its store, sending nothing, and the row is recorded as sent."""
        for row in self._pending_arc_rows():
            message = self._store.arc_message(row.key)
            if message is None or message.state != ArcMessageState.ACKED:
                continue
            alarm = self._store.alarm(row.alarm_id)
            if alarm is not None:
                self._send(alarm, row, attempt=row.attempts + 1)

    def _hand_over_arc_rows(self, pending: list[NotificationRow]) -> None:
        """ARC rows still pending on alarms someone has taken charge of: the hub may have
        stopped between writing the row and the link storing its message. The link knows the
        event by its key, so one it already has is not sent twice."""
        for row in pending:
            alarm = self._store.alarm(row.alarm_id)
            if alarm is not None and alarm.state != AlarmState.OPEN:
                self._send(alarm, row, attempt=row.attempts + 1)

    def _pending_arc_rows(self) -> list[NotificationRow]:
        pending = self._store.notifications(state=NotificationState.PENDING)
        return [row for row in pending if row.channel == ARC]

    async def take_over(self, alarm_id: int, now_ms: int) -> None:
        """Run a ladder this hub has not been running: re-send its pending rows, catch it up."""
        alarm = self._store.alarm(alarm_id)
        if alarm is None or alarm.state != AlarmState.OPEN or alarm.checked_in_ms is not None:
            return
        self._send_pending(alarm, self._store.notifications(alarm.id, NotificationState.PENDING))
        await self.evaluate(alarm.id, now_ms, urgent=alarm.kind in URGENT_KINDS)

    def _send_pending(self, alarm: Alarm, rows: Sequence[NotificationRow]) -> None:
        """Send again an open alarm's rows still pending (the hub stopped before they went)."""
        for row in rows:
            if (row.last_result or "").startswith(CONSOLE_TASK):
                continue  # handed to a person on the console: nothing to send again
            self._send(alarm, row, attempt=row.attempts + 1)

    async def evaluate(
        self,
        alarm_id: int,
        now_ms: int,
        opened: Opened | None = None,
        *,
        urgent: bool = False,
    ) -> None:
        """Write and send every action due at ``now_ms``, then arm the next deadline.

        ``opened``: the alarm as its opening transaction committed it, with the facts read for
        its announcement, so a ladder's first evaluation reads neither again. It may be stale by
        then (acknowledged meanwhile): the store's ``add_notifications`` then writes nothing.
        ``urgent``: a panic or duress alarm's, which waits for no other alarm's evaluation."""
        async with self._locks.hold(alarm_id), self._evaluations.slot(urgent):
            alarm = opened.alarm if opened is not None else self._store.alarm(alarm_id)
            if alarm is None or alarm.state != AlarmState.OPEN:
                return
            policy = self.policy_of(alarm)
            started_ms = alarm.started_ms if alarm.started_ms is not None else alarm.opened_ms
            state = ladder.AlarmState(
                str(alarm.id),
                started_ms / 1000,
                checked_in=alarm.checked_in_ms is not None,
                sent=self._store.action_keys(alarm.id),
            )
            plan = ladder.next_actions(state, policy, now_ms / 1000 + _EPSILON_S)
            if opened is not None and opened.facts.covert == policy.covert:
                facts = opened.facts
            else:
                facts = alarm_facts(self._store, alarm, covert=policy.covert)
            shipped = is_shipped(policy)
            recipients: dict[str, Recipient] = {}
            rows = [
                row
                for action in plan.actions
                for row in self._rows(alarm, action, facts, now_ms, shipped, recipients)
            ]
            next_ms = None if plan.next_deadline is None else math.ceil(plan.next_deadline * 1000)
            future = self._store.add_notifications(alarm.id, rows, next_ms, now_ms)
            created = await asyncio.wrap_future(future)
            if created is None:
                return  # acknowledged meanwhile
            if next_ms is not None:
                self._scheduler.soon(
                    timer_key(alarm.id), next_ms, self._fired(alarm.id, urgent), now_ms=now_ms
                )
        for row in created:
            if row.state == NotificationState.PENDING:
                self._send(alarm, row, attempt=1, recipient=recipients.get(row.key))
            else:
                log.warning("alarm %d: %s not sent: %s", alarm.id, row.channel, row.last_result)

    def policy_of(self, alarm: Alarm) -> Policy:
        policy = self._policies.get(alarm.policy or str(alarm.kind))
        if policy is None:
            log.error("alarm %d: no policy %r; using %s", alarm.id, alarm.policy, alarm.kind)
            policy = self._policies[str(alarm.kind)]
        return policy

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- internals ------------------------------------------------------------------------------
    def _fired(self, alarm_id: int, urgent: bool) -> Callable[[int], Awaitable[None]]:
        def fire(logical_now_ms: int) -> Awaitable[None]:
            return self._evaluate_claimed(alarm_id, logical_now_ms, urgent)

        return fire

    async def _evaluate_claimed(
        self, alarm_id: int, now_ms: int, urgent: bool, opened: Opened | None = None
    ) -> None:
        if self.claim is not None and not await self.claim(alarm_id):
            return  # another hub runs this ladder
        await self.evaluate(alarm_id, now_ms, opened, urgent=urgent)

    def _rows(
        self,
        alarm: Alarm,
        action: ladder.Action,
        facts: AlarmFacts,
        now_ms: int,
        shipped: bool,
        recipients: dict[str, Recipient],
    ) -> list[NewNotification]:
        """The action's rows; ``recipients`` gets whom each row to be sent is for, by key, so
        a row just created is sent without looking its recipient up again."""
        rows = []
        found: list[tuple[str, Found | None]] = []
        for role in action.notify or ("console",):
            people = [CONSOLE] if role == "console" else self.directory.resolve(role, alarm)
            if not people:
                found.append((role, None))
            found.extend((role, f) for f in people)
        for channel in action.channels:
            if channel == ARC:
                rows.extend(self._arc_row(alarm, action, shipped))
                continue
            for role, who in found:
                row = _row(action, channel, role, who)
                if who is None:
                    rows.append(row)
                    continue
                withheld = self._withheld(channel, role, who.recipient, facts)
                if withheld is not None:
                    rows.append(_not_configured(row, withheld))
                    continue
                text = render(facts, action.message, role, channel, now_ms, self._style)
                rows.append(replace(row, text=text))
                recipients[row.key] = who.recipient
        return rows

    def _arc_row(self, alarm: Alarm, action: ladder.Action, shipped: bool) -> list[NewNotification]:
        """The alarm's one ARC row (a later step or repeat finds it written: nothing is sent),
        or none when a shipped policy names ``arc`` on a hub without an ARC."""
        row = NewNotification(
            key=ArcAlarmEvent.key_for(alarm.id, "open"),
            action_key=action.key,
            step=action.step_index,
            repeat=action.repeat_index,
            channel=ARC,
            recipient_name=ARC_RECIPIENT.name,
            recipient_role=ARC_RECIPIENT.role,
            recipient_ref=ARC_REF,
            text=row_text(str(alarm.kind)),
        )
        gap = self.dispatcher.gap(ARC, ARC_RECIPIENT) if self.dispatcher is not None else None
        if gap is None:
            return [row]
        if shipped:
            return []  # no ARC here, and the operator never asked for one: not a gap
        return [_not_configured(row, f"not configured: {gap}")]

    def _withheld(
        self, channel: str, role: str, recipient: Recipient, facts: AlarmFacts
    ) -> str | None:
        """Why a row must not be sent, or None: covert, or its channel not configured."""
        if channel == "console":
            return None
        region = self._style.region
        phone = legacy(recipient.phone, region)
        if facts.covert and (
            role == "worker" or (phone is not None and phone == legacy(facts.worker_mobile, region))
        ):
            return "withheld: a covert alarm never contacts the worker's own phone"
        if facts.covert and role in THIRD_PARTIES:
            return "withheld: a covert alarm goes to responders only"
        if self.dispatcher is None:
            return None
        gap = self.dispatcher.gap(channel, recipient)
        return f"not configured: {gap}" if gap is not None else None

    def _send(
        self,
        alarm: Alarm,
        row: NotificationRow,
        attempt: int,
        recipient: Recipient | None = None,
    ) -> None:
        """Send a stored row; ``recipient``: whom it was just made for, else looked up again."""
        if row.channel == ARC:
            recipient = ARC_RECIPIENT
        elif recipient is None:
            recipient = self.directory.again(row.recipient_ref, row.recipient_role, alarm)
        if recipient is None or self.dispatcher is None:
            log.warning("alarm %d: cannot send %s: no recipient or dispatcher", alarm.id, row.key)
            return
        urgent = alarm.kind in URGENT_KINDS
        n = Notification(row.key, alarm.id, row.channel, recipient, row.text, urgent=urgent)
        self._spawn(self.dispatcher.dispatch(n, attempt=attempt))

    def _tell(self, kind: str, alarm: Alarm) -> AlarmFacts:
        """Publish the alarm to the consoles, with its policy's first step filled in from its
        facts; returns the facts (the ladder's first evaluation renders from them)."""
        policy = self.policy_of(alarm)
        facts = alarm_facts(self._store, alarm, covert=policy.covert)
        if self._publish is not None:
            guidance = fill(policy.steps[0].message, facts, self._clock.wall_ms(), self._style)
            self._publish(
                kind,
                {
                    "id": alarm.id,
                    "kind": str(alarm.kind),
                    "state": str(alarm.state),
                    "session_id": alarm.session_id,
                    "acknowledged_by": alarm.acknowledged_by,
                    "guidance": guidance,
                },
            )
        return facts

    def _spawn(self, work: Awaitable[Any]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("escalation task failed")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _row(action: ladder.Action, channel: str, role: str, who: Found | None) -> NewNotification:
    ref = who.ref if who is not None else "nobody"
    row = NewNotification(
        key=f"{action.key}:{role}:{ref}:{channel}",
        action_key=action.key,
        step=action.step_index,
        repeat=action.repeat_index,
        channel=channel,
        recipient_name=who.recipient.name if who is not None else "nobody",
        recipient_role=role,
        recipient_ref=ref,
        text=action.message,
    )
    if who is None:  # recorded, so the step counts as done and the console shows the gap
        return _not_configured(row, f"not configured: nobody fills the role {role}")
    return row


def _not_configured(row: NewNotification, reason: str) -> NewNotification:
    """A row that is never sent: stored with its reason so the step counts as done."""
    return replace(row, state=NotificationState.NOT_CONFIGURED, last_result=reason, text="")


class NotificationLog:
    """The dispatcher's ``record``: every attempt and its result, durably, and on the consoles.

    Apart from the runtime because the dispatcher is built first (the runtime sends through it);
    ``max_attempts`` is the dispatcher's, so a last failed attempt is recorded as final.
    """

    def __init__(
        self, store: Store, clock: Clock, max_attempts: int, publish: Publish | None = None
    ) -> None:
        self._store = store
        self._clock = clock
        self._max_attempts = max_attempts
        self._publish = publish
        # Attempts waiting for the store, recorded together: while one batch is being written
        # the next gathers, so thousands of sends cost the store's writer a few items, not
        # one each (its queue is also where alarms are opened).
        self._queued: list[tuple[NotificationAttempt, asyncio.Future[None]]] = []
        self._writing: asyncio.Task[None] | None = None

    async def record(self, n: Notification, attempt: int, result: DeliveryResult) -> None:
        """Return once the attempt is durably recorded (then tell the consoles)."""
        final = not (result.awaiting_person or result.handed_over) and (
            result.ok or not result.retryable or attempt >= self._max_attempts
        )
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        self._queued.append(
            (
                NotificationAttempt(
                    n.key, attempt, result.ok, final, result.detail, self._clock.wall_ms()
                ),
                done,
            )
        )
        if self._writing is None:
            self._writing = loop.create_task(self._write_queued())
        await done
        if self._publish is not None:
            self._publish(
                "notification",
                {
                    "alarm_id": n.alarm_id,
                    "key": n.key,
                    "channel": n.channel,
                    "ok": result.ok,
                    "recipient": n.recipient.name,
                    "attempt": attempt,
                    "detail": result.detail,
                    "awaiting_person": result.awaiting_person,
                },
            )

    async def _write_queued(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                try:
                    await asyncio.wrap_future(self._store.record_attempts([a for a, _ in batch]))
                except Exception as exc:  # every attempt of the batch hears it
                    for _, done in batch:
                        if not done.done():
                            done.set_exception(exc)
                else:
                    for _, done in batch:
                        if not done.done():
                            done.set_result(None)
        finally:
            self._writing = None
