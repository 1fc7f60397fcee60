"""The ARC link: every alarm event for the Alarm Receiving Centre is stored, then sent, until a
receiver acks it; the link is tested every ``arc.supervision_interval``.

Store first: ``deliver`` and ``enqueue`` write the message (idempotent on its key, with its
sequence number and the worker's zone) before anything is sent, so a hub killed mid-send finds it
pending at start and sends it again with the same sequence number: the ARC sees the event once,
or the same sequence again. Every attempt at every receiver is recorded. A round that no receiver
acks is tried again on the injected clock (``arc_messages.retry_after_s``), forever for an alarm;
a supervision test that fails is not retried (the next test follows) but turns the link down.

One message is on the wire at a time (``_sending``): a single pump sends what is due, alarms
before tests; ``deliver`` sends its own message's first round at once, under the same lock.
Several hubs on one PostgreSQL: each message is claimed (a lease) before a round, so one hub
sends it; each supervision test is claimed in the database, so one hub sends it.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any, Protocol

from loneguard.protocol.clock import Clock, Timer
from loneguard.server.arc.arc_messages import (
    alarm_message,
    frame_of,
    retry_after_s,
    test_message,
)
from loneguard.server.arc.arc_settings import ArcSettings
from loneguard.server.arc.dc09 import Dc09Error, Dc09Frame
from loneguard.server.arc.events import ArcAlarmEvent, ArcLinkState
from loneguard.server.escalation.notify.notification import DeliveryResult
from loneguard.server.loop_timer import call_later_on_loop, sleep_on
from loneguard.server.store import Store
from loneguard.server.store.arc_records import (
    ArcAttemptRecord,
    ArcMessage,
    ArcMessageState,
    NewArcMessage,
)

log = logging.getLogger(__name__)

# How long the pump waits when nothing it may claim is due (another hub holds what is due).
IDLE_RECHECK_S = 1.0
# Beyond one attempt's ack time-out, how long a claim on a message lasts unless renewed.
LEASE_MARGIN_S = 30.0
# How long an enqueued message waits before the store is asked again after a failure.
STORE_RETRY_S = 5.0
# How long a stop waits for the round on the wire before it leaves the message to the restart.
STOP_WAIT_S = 5.0


class TransmitAttempt(Protocol):
    """One try at one receiver, as the transmitter reports it (``transmitter.Attempt``)."""

    @property
    def receiver(self) -> str: ...

    @property
    def outcome(self) -> str: ...

    @property
    def detail(self) -> str: ...

    @property
    def started_ms(self) -> int: ...

    @property
    def finished_ms(self) -> int: ...


class TransmitResult(Protocol):
    """A round: primary, then backup (``transmitter.TransmitOutcome``)."""

    @property
    def acked(self) -> bool: ...

    @property
    def receiver(self) -> str | None: ...

    @property
    def attempts(self) -> Sequence[TransmitAttempt]: ...


class FrameTransmitter(Protocol):
    """What the link needs of ``transmitter.Transmitter``: one round of attempts for a frame
    (its sequence number fixed; each attempt stamps its own time), each attempt told as it ends.
    """

    async def send(
        self, frame: Dc09Frame, *, on_attempt: Callable[[Any], None] | None = None
    ) -> TransmitResult: ...

    async def close(self) -> None: ...


Listener = Callable[[ArcLinkState], None]


class ArcLink:
    """Implements ``events.ArcSink``. Without ``transmitter`` (no ``arc.primary``) it is not
    configured: it stores and sends nothing."""

    def __init__(
        self,
        store: Store,
        clock: Clock,
        settings: ArcSettings,
        transmitter: FrameTransmitter | None,
        *,
        owner: str,
        encrypted: bool = False,
        poll_s: float | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self._transmitter = transmitter if settings.configured else None
        self._owner = owner
        self._encrypted = encrypted  # the transmitter holds the key; this is for the warning
        self._poll_s = poll_s  # several hubs: look for what others left this often
        receivers = 2 if settings.backup is not None else 1
        self._per_round = settings.attempts * receivers
        # A claim outlasts one attempt (it is renewed as each ends) with a margin: a hub that
        # dies mid-round leaves its message to the others within about this long.
        self._lease_ms = round((settings.ack_timeout + LEASE_MARGIN_S) * 1000)
        self._interval_ms = round(settings.supervision_interval * 1000)
        self._state = ArcLinkState(configured=self._transmitter is not None, up=True)
        self._listeners: list[Listener] = []
        self._sending = asyncio.Lock()
        self._wake = asyncio.Event()
        self._pump_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._test_timer: Timer | None = None
        self._wait_timer: Timer | None = None
        self._stopped = False
        self.rounds = 0  # rounds sent by this hub (for tests and metrics)

    # -- ArcSink --------------------------------------------------------------------------------
    @property
    def configured(self) -> bool:
        return self._transmitter is not None

    def state(self) -> ArcLinkState:
        return self._state

    async def deliver(self, event: ArcAlarmEvent) -> DeliveryResult:
        if self._transmitter is None:
            return DeliveryResult(False, "no ARC configured (arc.primary)")
        try:
            new = alarm_message(event, self._settings)
        except KeyError as exc:
            return DeliveryResult(False, str(exc.args[0]))
        message = await self._store_message(new)
        if message.state == ArcMessageState.ACKED:
            return DeliveryResult(True, self._acked_detail(message))
        async with self._sending:
            claimed = await asyncio.wrap_future(
                self._store.claim_arc_message(
                    self._owner, self._clock.wall_ms(), self._lease_ms, message.id
                )
            )
            if claimed is not None:
                message = await self._round(claimed)
            else:  # the pump (or another hub) got to it first: how did that go?
                message = self._store.arc_message(message.key) or message
        if message.state == ArcMessageState.ACKED:
            return DeliveryResult(True, self._acked_detail(message))
        # Not acked yet: the link keeps trying by itself; the dispatcher must not.
        detail = f"stored as ARC message {message.sequence:04d}; the link keeps sending it"
        if message.last_result:
            detail += f" (last: {message.last_result})"
        return DeliveryResult(False, detail, retryable=False)

    def enqueue(self, event: ArcAlarmEvent) -> None:
        if self._transmitter is None:
            return
        try:
            new = alarm_message(event, self._settings)
        except KeyError as exc:
            log.error("ARC: %s; not sent", exc.args[0])
            return
        self._spawn(self._store_until_stored(new))

    # -- the console's view ---------------------------------------------------------------------
    def add_listener(self, callback: Listener) -> None:
        """``callback(state)`` whenever the link's state changes (on the event loop)."""
        self._listeners.append(callback)

    # -- start and stop -------------------------------------------------------------------------
    async def start(self) -> None:
        """Take up where the store left off: pending messages (same sequence numbers) and the
        supervision schedule."""
        if self._transmitter is None:
            return
        if not self._encrypted:
            log.warning(
                "ARC messages go UNENCRYPTED: agree an AES key with the ARC and set arc.key"
                " (or LONEGUARD_ARC_KEY)"
            )
        self._stopped = False
        self._seed_state()
        self._pump_task = asyncio.create_task(self._pump(), name="arc-link")
        if self._interval_ms > 0:
            self._spawn(self._test_due())

    async def stop(self, wait_s: float = STOP_WAIT_S) -> None:
        """Stop sending; a round on the wire gets ``wait_s`` to finish, else its message stays
        pending (and claimed by this hub until its lease runs out) for the restart."""
        self._stopped = True
        for timer in (self._test_timer, self._wait_timer):
            if timer is not None:
                timer.cancel()
        self._wake.set()
        if self._pump_task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self._pump_task), wait_s)
            except (TimeoutError, asyncio.CancelledError):
                self._pump_task.cancel()
            self._pump_task = None
        if self._tasks:  # messages being stored, a test being claimed
            _, late = await asyncio.wait(set(self._tasks), timeout=wait_s)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self._transmitter is not None:
            await self._transmitter.close()

    # -- internals ------------------------------------------------------------------------------
    async def _store_message(self, new: NewArcMessage) -> ArcMessage:
        message, created = await asyncio.wrap_future(
            self._store.add_arc_message(new, self._clock.wall_ms())
        )
        if created:
            log.info(
                "ARC message %04d stored (%s, code %03d, zone %03d)",
                message.sequence,
                message.key,
                message.code,
                message.zone,
            )
            self._wake.set()
            self._refresh_pending()
        return message

    async def _store_until_stored(self, new: NewArcMessage) -> None:
        """Store a message nobody waits on; while the database cannot take it (a PostgreSQL
        restart), try again every ``STORE_RETRY_S`` on the clock: it must not be lost."""
        while True:
            try:
                await self._store_message(new)
                return
            except Exception as exc:
                if self._stopped:
                    log.error("ARC message %s not stored before the stop: %s", new.key, exc)
                    return
                log.warning("ARC message %s not stored yet (%s); trying again", new.key, exc)
                await sleep_on(self._clock, STORE_RETRY_S)

    async def _pump(self) -> None:
        while not self._stopped:
            # Cleared before looking: a message stored while the pump looks wakes it again.
            self._wake.clear()
            try:
                async with self._sending:
                    message = await asyncio.wrap_future(
                        self._store.claim_arc_message(
                            self._owner, self._clock.wall_ms(), self._lease_ms
                        )
                    )
                    if message is not None:
                        await self._round(message)
                        continue
                await self._wait_for_work()
                if self._poll_s is not None and not self._stopped:
                    self._set_state(self._state_from_store())  # what the other hubs saw
            except Exception:
                log.exception("ARC link: a round failed unexpectedly; carrying on")
                await self._wait_for_work_after_error()

    async def _wait_for_work_after_error(self) -> None:
        """After an error (the database away, say): try again in a while, unless stopped."""
        if not self._stopped:
            self._wake.clear()
            timer = call_later_on_loop(
                self._clock, asyncio.get_running_loop(), IDLE_RECHECK_S, self._wake.set
            )
            try:
                await self._wake.wait()
            finally:
                timer.cancel()

    async def _wait_for_work(self) -> None:
        """Until woken (a new message, a stop) or the soonest pending message falls due."""
        if self._stopped:
            return
        delay: float | None = None
        due = self._store.arc_next_due_ms()
        if due is not None:
            delay = (due - self._clock.wall_ms()) / 1000
            if delay <= 0:  # due already, yet nothing was claimed: another hub holds it
                delay = IDLE_RECHECK_S
        if self._poll_s is not None:
            delay = self._poll_s if delay is None else min(delay, self._poll_s)
        if delay is not None:
            self._wait_timer = call_later_on_loop(
                self._clock, asyncio.get_running_loop(), delay, self._wake.set
            )
        try:
            await self._wake.wait()
        finally:
            if self._wait_timer is not None:
                self._wait_timer.cancel()
                self._wait_timer = None

    async def _round(self, message: ArcMessage) -> ArcMessage:
        """One round of attempts for a claimed message, each attempt recorded as it ends (a
        hub killed mid-round leaves the attempts it made); the message as stored after it."""
        assert self._transmitter is not None
        attempts: list[ArcAttemptRecord] = []

        def record(attempt: TransmitAttempt) -> None:
            row = ArcAttemptRecord(
                attempt.receiver,
                attempt.outcome,
                attempt.detail,
                attempt.started_ms,
                attempt.finished_ms,
            )
            attempts.append(row)
            renewed = self._clock.wall_ms() + self._lease_ms
            self._store.record_arc_attempt(message.id, row, renewed)  # before the round's end

        try:
            outcome = await self._transmitter.send(
                frame_of(message, self._settings), on_attempt=record
            )
            acked_by = outcome.receiver if outcome.acked else None
        except Exception as exc:  # the round failed as a whole: recorded, retried like any
            # A DC-09 or network error says what is wrong and is safe to show; anything else is
            # a fault of ours: its traceback goes to the log, its name to the record.
            detail = type(exc).__name__
            if isinstance(exc, Dc09Error | OSError):
                detail = f"{detail}: {exc}"[:200]
            else:
                log.exception("ARC message %04d: the round failed", message.sequence)
            now = self._clock.wall_ms()
            record(ArcAttemptRecord("primary", "error", detail, now, now))
            acked_by = None
        self.rounds += 1
        now = self._clock.wall_ms()
        retry_at: int | None = None
        if acked_by is None and not message.is_test:
            rounds_failed = math.ceil((message.attempts + len(attempts)) / self._per_round)
            retry_at = now + round(retry_after_s(rounds_failed) * 1000)
        stored = await asyncio.wrap_future(
            self._store.record_arc_round(message.id, acked_by, retry_at, now)
        )
        self._after_round(stored, attempts, acked_by, now)
        return stored

    def _after_round(
        self,
        message: ArcMessage,
        attempts: Sequence[ArcAttemptRecord],
        acked_by: str | None,
        now_ms: int,
    ) -> None:
        failed = [a for a in attempts if a.outcome != "ack"]
        if acked_by is not None:
            log.info("ARC message %04d acked by the %s receiver", message.sequence, acked_by)
            state = replace(
                self._state,
                up=True,
                last_ack_ms=now_ms,
                last_ack_receiver=acked_by,
                down_since_ms=None,
                failures=0,
            )
        else:
            last = failed[-1] if failed else None
            reason = f"{last.receiver}: {last.outcome} {last.detail}".strip() if last else "none"
            log.warning(
                "ARC message %04d not acked by any receiver (%s)%s",
                message.sequence,
                reason,
                "" if message.is_test else "; trying again",
            )
            state = replace(
                self._state,
                up=False,
                down_since_ms=self._state.down_since_ms or now_ms,
                failures=self._state.failures + len(failed),
                last_failure=reason[:200],
            )
        self._set_state(replace(state, pending=self._pending_count()))

    def _acked_detail(self, message: ArcMessage) -> str:
        return f"ARC message {message.sequence:04d} acked by the {message.receiver} receiver"

    # -- supervision ----------------------------------------------------------------------------
    async def _test_due(self) -> None:
        """The test falls due (by this hub's timer): the hub that claims it stores and sends it;
        every hub arms its timer for the next one."""
        if self._stopped:
            return
        now = self._clock.wall_ms()
        try:
            won, next_ms = await asyncio.wrap_future(
                self._store.claim_arc_test(now, self._interval_ms)
            )
            if won:
                await self._store_message(test_message(now, self._settings))
        except Exception as exc:
            log.error("ARC supervision: could not claim or store the test: %s", exc)
            next_ms = now + self._interval_ms
        self._set_state(replace(self._state, next_test_ms=next_ms))
        if not self._stopped:
            delay = max((next_ms - self._clock.wall_ms()) / 1000, 0.0)
            self._test_timer = call_later_on_loop(
                self._clock,
                asyncio.get_running_loop(),
                delay,
                lambda: self._spawn(self._test_due()),
            )

    # -- state ----------------------------------------------------------------------------------
    def _seed_state(self) -> None:
        self._set_state(self._state_from_store())

    def _state_from_store(self) -> ArcLinkState:
        """The link as every hub's records show it: the newest message tried says up or down.
        At start, and with several hubs at every poll: another hub may have sent (and failed)
        the last test, and this hub's console must show the banner all the same."""
        tried = [m for m in self._store.arc_messages(limit=20) if m.attempts > 0]
        state = replace(self._state, pending=self._pending_count())
        acked = [m for m in tried if m.state == ArcMessageState.ACKED]
        if acked and (state.last_ack_ms or 0) < (acked[0].acked_ms or 0):
            state = replace(
                state, last_ack_ms=acked[0].acked_ms, last_ack_receiver=acked[0].receiver
            )
        if not tried:
            return state
        if tried[0].state == ArcMessageState.ACKED:
            return replace(state, up=True, down_since_ms=None, failures=0, last_failure=None)
        return replace(
            state,
            up=False,
            down_since_ms=state.down_since_ms or tried[0].created_ms,
            failures=max(state.failures, tried[0].attempts),
            last_failure=tried[0].last_result or state.last_failure,
        )

    def _pending_count(self) -> int:
        return self._store.arc_pending_alarm_count()

    def _refresh_pending(self) -> None:
        self._set_state(replace(self._state, pending=self._pending_count()))

    def _set_state(self, state: ArcLinkState) -> None:
        if state == self._state:
            return
        self._state = state
        for listener in self._listeners:
            try:
                listener(state)
            except Exception:
                log.exception("ARC link state listener failed")

    def _spawn(self, work: Awaitable[object]) -> None:
        async def run() -> None:
            try:
                await work
            except Exception:
                log.exception("ARC link task failed")

        task = asyncio.get_running_loop().create_task(run())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


__all__ = ["ArcLink", "FrameTransmitter", "TransmitAttempt", "TransmitResult"]
