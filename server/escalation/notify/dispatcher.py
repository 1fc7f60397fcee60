"""Sends notifications over their channels, retrying transient failures until acknowledged.

``dispatch`` makes the first attempt at once and records it. A retryable failure schedules the
next attempt after an exponential backoff with jitter, timed on the injected clock and run back
on the event loop (``loop_timer``). Every attempt is recorded through ``record``;
the caller persists it in the event log. ``cancel(alarm_id)`` stops the retries of an alarm
when a person takes charge. An attempt already under way finishes and is recorded, but is not
retried. A channel that keeps trying by itself (the ARC link: ``DeliveryResult.handed_over``) is
never retried here, so taking charge does not stop it: the ARC still gets the alarm, and then
its restoral.

Each channel makes at most ``send_slots`` sends at once (``PriorityGate``): a flood of alarms does
not open thousands of connections or threads at once, and while a channel is full a panic or
duress alarm's notification (``Notification.urgent``) is the next to go, ahead of every other
alarm's waiting sends. A retry waits for a slot like a first attempt.

Idempotency: a key that is being sent, waiting for a retry or already delivered in this process
is not sent again. Across restarts the caller knows from its records which keys are done, and
resumes a pending one with ``dispatch(n, attempt=<next attempt number>)``.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from loneguard.gsm.redact import mask_numbers
from loneguard.protocol.clock import Clock, Timer
from loneguard.server.escalation.notify.notification import (
    Channel,
    DeliveryResult,
    Notification,
    Recipient,
    channel_gap,
)
from loneguard.server.escalation.priority_gate import PriorityGate
from loneguard.server.loop_timer import call_later_on_loop

log = logging.getLogger(__name__)

Record = Callable[[Notification, int, DeliveryResult], Awaitable[None]]

_MAX_DELIVERED_KEYS = 100_000
MAX_ATTEMPTS = 5
SEND_SLOTS = 16  # sends at once per channel, unless the hub's settings say otherwise
# What to set up when a policy names a channel the hub was started without.
MISSING_CHANNEL = {
    "sms": "no modem is configured (modem.port)",
    "apprise": "apprise is not set up on this hub",
    "arc": "no ARC is configured (arc.primary)",
}


@dataclass(eq=False)
class _Job:
    n: Notification
    attempt: int  # the number of the next attempt
    cancelled: bool = False
    timer: Timer | None = field(default=None, repr=False)


class Dispatcher:
    def __init__(
        self,
        channels: Mapping[str, Channel],
        clock: Clock,
        record: Record,
        *,
        max_attempts: int = MAX_ATTEMPTS,
        backoff_base: float = 30.0,
        backoff_max: float = 600.0,
        jitter: float = 0.1,
        rng: random.Random | None = None,
        send_slots: int = SEND_SLOTS,
    ) -> None:
        if max_attempts < 1 or backoff_base < 0 or backoff_max < backoff_base:
            raise ValueError("max_attempts >= 1 and 0 <= backoff_base <= backoff_max")
        if not 0 <= jitter < 1:
            raise ValueError("jitter is a fraction in [0, 1)")
        self._channels = dict(channels)
        self._gates = {name: PriorityGate(send_slots) for name in self._channels}
        self._clock = clock
        self._record = record
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.jitter = jitter
        self._rng = rng if rng is not None else random.Random()
        self._jobs: dict[str, _Job] = {}  # by key: sending now or waiting for a retry
        self._by_alarm: dict[int, set[str]] = {}
        self._delivered: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.attempts = 0
        self.failures = 0

    def backoff(self, attempt: int) -> float:
        """The delay before the attempt after ``attempt`` (1-based), jitter included."""
        delay = min(self.backoff_max, self.backoff_base * 2.0 ** min(max(attempt - 1, 0), 60))
        if self.jitter:
            delay *= 1 + self._rng.uniform(-self.jitter, self.jitter)
        return min(self.backoff_max, delay)

    def gap(self, channel: str, recipient: Recipient) -> str | None:
        """Why ``channel`` cannot reach ``recipient`` at all (not configured), or None."""
        found = self._channels.get(channel)
        if found is None:
            return MISSING_CHANNEL.get(channel, f"the {channel} channel is not configured")
        return channel_gap(found, recipient)

    def pending(self, alarm_id: int | None = None) -> int:
        """Notifications being sent or waiting for a retry (of one alarm, or all)."""
        if alarm_id is None:
            return len(self._jobs)
        return len(self._by_alarm.get(alarm_id, ()))

    async def dispatch(self, n: Notification, *, attempt: int = 1) -> DeliveryResult | None:
        """Make one attempt now (attempt number ``attempt``); None if the key is already handled.

        Returns the attempt's result; a retryable failure is retried in the background.
        """
        if n.key in self._jobs or n.key in self._delivered:
            log.debug("notification %s already in hand", mask_numbers(n.key))
            return None
        job = _Job(n, attempt)
        self._jobs[n.key] = job
        self._by_alarm.setdefault(n.alarm_id, set()).add(n.key)
        return await self._attempt(job)

    def cancel(self, alarm_id: int) -> int:
        """Stop every retry of an alarm (someone took charge); returns how many were stopped."""
        stopped = 0
        for key in self._by_alarm.pop(alarm_id, set()):
            job = self._jobs.pop(key, None)
            if job is None:
                continue
            job.cancelled = True
            if job.timer is not None:
                job.timer.cancel()
            stopped += 1
        if stopped:
            log.info("alarm %d: %d notification retries cancelled", alarm_id, stopped)
        return stopped

    def warm_up(self) -> None:
        """Let each channel that starts something of its own (apprise's worker processes)
        start it now rather than at the first alarm."""
        for channel in self._channels.values():
            warm_up = getattr(channel, "warm_up", None)
            if callable(warm_up):
                warm_up()

    async def aclose(self) -> None:
        """Cancel every retry and wait for attempts under way (at shutdown); then stop what
        a channel runs beside the hub (apprise's worker processes)."""
        for alarm_id in list(self._by_alarm):
            self.cancel(alarm_id)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        for channel in self._channels.values():
            shutdown = getattr(channel, "shutdown", None)
            if callable(shutdown):
                shutdown()

    # -- internals ----------------------------------------------------------------------------

    async def _attempt(self, job: _Job) -> DeliveryResult:
        n, attempt = job.n, job.attempt
        channel = self._channels.get(n.channel)
        if channel is None:
            result = DeliveryResult(False, f"unknown channel {n.channel!r}", retryable=False)
        else:
            try:
                async with self._gates[n.channel].slot(n.urgent):
                    result = await channel.send(n)
            except asyncio.CancelledError:
                self._finish(job)  # not recorded: the caller may dispatch the key again
                raise
            except Exception as exc:  # a broken channel is a failed attempt, not a crash
                log.exception("alarm %d: channel %s raised", n.alarm_id, n.channel)
                result = DeliveryResult(False, f"channel error: {type(exc).__name__}", True)
        self.attempts += 1
        if not result.ok and not (result.awaiting_person or result.handed_over):
            self.failures += 1
        try:
            await self._record(n, attempt, result)
        except Exception as exc:
            log.error(
                "alarm %d: recording %s attempt %d failed: %s",
                n.alarm_id,
                n.channel,
                attempt,
                type(exc).__name__,
            )
        if result.ok or result.awaiting_person or result.handed_over:
            self._finish(job)
            if len(self._delivered) >= _MAX_DELIVERED_KEYS:
                self._delivered.clear()  # the caller's records remain the durable truth
            if not result.handed_over:  # that one is asked again when its sender has news
                self._delivered.add(n.key)
        elif job.cancelled:
            pass  # acknowledged while the attempt was under way
        elif result.retryable and attempt < self.max_attempts:
            delay = self.backoff(attempt)
            job.attempt = attempt + 1
            loop = asyncio.get_running_loop()
            job.timer = call_later_on_loop(self._clock, loop, delay, lambda: self._retry(job))
            log.info(
                "alarm %d: %s attempt %d failed, retry in %.1f s",
                n.alarm_id,
                n.channel,
                attempt,
                delay,
            )
        else:
            self._finish(job)
            log.warning(
                "alarm %d: %s notification given up after attempt %d: %s",
                n.alarm_id,
                n.channel,
                attempt,
                result.detail,
            )
        return result

    def _finish(self, job: _Job) -> None:
        if self._jobs.get(job.n.key) is job:
            del self._jobs[job.n.key]
        keys = self._by_alarm.get(job.n.alarm_id)
        if keys is not None:
            keys.discard(job.n.key)
            if not keys:
                del self._by_alarm[job.n.alarm_id]

    def _retry(self, job: _Job) -> None:
        if job.cancelled or self._jobs.get(job.n.key) is not job:
            return
        job.timer = None
        task = asyncio.get_running_loop().create_task(self._retry_task(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _retry_task(self, job: _Job) -> None:
        await self._attempt(job)


__all__ = ["MAX_ATTEMPTS", "MISSING_CHANNEL", "SEND_SLOTS", "Dispatcher", "Record"]
