"""The ``call`` channel: the hub's modem rings the person, or a person rings them from the console.

``ModemCallChannel`` rings through ``gsm.voice`` in a worker thread, so the event loop never
waits on the serial line, and one call at a time (the modem has one voice line; SMS still go out
between the call's short exchanges). Whoever answers hears the alarm and "press 1 to take
charge"; pressing 1 acknowledges the alarm in their name and stops the ladder. The outcome
(took charge, answered, no answer, busy, failed) is the attempt's result on the alarm's timeline.
A call that could not be made (the modem failing) is retried like an SMS; one nobody answered
is not: the ladder's next step is the next try.

``ConsoleCallChannel`` is the channel where no modem can ring: the step becomes a task on the
alarm's console page ("Ring Ana Lopez on 07700 900101 now"), pending until the person who rang
records how it went (``server/console/call_tasks.py``). It is never a failure.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from loneguard.gsm.at import ModemError
from loneguard.gsm.redact import mask_number
from loneguard.gsm.voice import CallOutcome, CallResult, VoiceCalls
from loneguard.server.escalation.notify.notification import DeliveryResult, Notification

log = logging.getLogger(__name__)

# The start of a console task's result: the console lists pending call rows that carry it.
CONSOLE_TASK = "console task:"

TakeCharge = Callable[[int, str], Awaitable[str]]  # (alarm id, name) → what happened
StillOpen = Callable[[int], bool]


def call_speech(n: Notification, keys_readable: bool) -> str:
    """What the person who answers hears: the alarm, then how to take charge."""
    how = (
        f"Press 1 now to take charge of alarm {n.alarm_id}."
        if keys_readable
        else f"To take charge, reply ACK {n.alarm_id} by text, or use the loneguard console."
    )
    return f"This is loneguard, alarm {n.alarm_id}. {n.text} {how} Again: {how}"


def console_task(n: Notification) -> DeliveryResult:
    phone = "" if n.recipient.phone else " (no number on file)"
    return DeliveryResult(
        False,
        f"{CONSOLE_TASK} ring {n.recipient.name} ({n.recipient.role}) now{phone}",
        awaiting_person=True,
    )


class ConsoleCallChannel:
    """No modem rings: a person rings from the console and records the outcome there."""

    name = "call"

    async def send(self, n: Notification) -> DeliveryResult:
        return console_task(n)


class ModemCallChannel:
    def __init__(
        self,
        calls: VoiceCalls,
        *,
        ring_time: float,
        listen_time: float,
        take_charge: TakeCharge,
        still_open: StillOpen | None = None,
        recover: Callable[[], bool] | None = None,
    ) -> None:
        self.name = "call"
        self._calls = calls
        self.ring_time = ring_time
        self.listen_time = listen_time
        self._take_charge = take_charge
        self._still_open = still_open
        self._recover = recover
        self._one_call = asyncio.Lock()
        self._closing = False

    def close(self) -> None:
        """The hub is stopping: hang up the call under way at its next poll; ring nobody new."""
        self._closing = True

    def _stop(self, alarm_id: int) -> bool:
        """Hang up now: the hub is stopping, or someone took charge of the alarm meanwhile."""
        return self._closing or (self._still_open is not None and not self._still_open(alarm_id))

    async def send(self, n: Notification) -> DeliveryResult:
        phone = n.recipient.phone
        if not phone:
            return DeliveryResult(False, f"no phone number for {n.recipient.role}", False)
        async with self._one_call:
            if self._stop(n.alarm_id):
                return self._stopped()
            try:
                result = await asyncio.to_thread(
                    self._calls.ring,
                    phone,
                    lambda keys: call_speech(n, keys),
                    ring_time=self.ring_time,
                    listen_time=self.listen_time,
                    stop=lambda: self._stop(n.alarm_id),
                )
            except ValueError:
                return DeliveryResult(False, f"invalid phone number for {n.recipient.role}", False)
            except Exception as exc:
                return await self._modem_failed(n, phone, exc)
        return await self._outcome(n, result)

    def _stopped(self) -> DeliveryResult:
        if self._closing:  # tried again after the restart
            return DeliveryResult(False, "call: not made, the hub stopped", retryable=True)
        return DeliveryResult(False, "call: not made, someone took charge meanwhile", False)

    async def _outcome(self, n: Notification, result: CallResult) -> DeliveryResult:
        if result.outcome == CallOutcome.STOPPED:
            return self._stopped()
        if result.outcome == CallOutcome.TOOK_CHARGE:
            taken = await self._take_charge(n.alarm_id, n.recipient.name)
            return DeliveryResult(True, f"call: answered, pressed 1; {taken}")
        if result.outcome == CallOutcome.ANSWERED:
            return DeliveryResult(True, f"call: {result.detail}")
        if result.outcome == CallOutcome.NO_ANSWER:
            return DeliveryResult(False, f"call: no answer ({result.detail})", False)
        if result.outcome == CallOutcome.BUSY:
            return DeliveryResult(False, "call: busy", False)
        # The network refused or dropped it before it was up (e.g. no voice service yet).
        return DeliveryResult(False, f"call: failed ({result.detail})", True)

    async def _modem_failed(self, n: Notification, phone: str, exc: Exception) -> DeliveryResult:
        error = str(exc) if isinstance(exc, ModemError) else f"unexpected {type(exc).__name__}"
        log.warning("alarm %d: call to %s failed: %s", n.alarm_id, mask_number(phone), error)
        state = ""
        if self._recover is not None:
            try:
                ok = await asyncio.to_thread(self._recover)
            except Exception as rexc:
                log.error("alarm %d: modem recovery raised %s", n.alarm_id, type(rexc).__name__)
                ok = False
            state = " (modem recovered)" if ok else " (modem recovery failed)"
        return DeliveryResult(False, f"call: {error}{state}", retryable=True)


__all__ = [
    "CONSOLE_TASK",
    "ConsoleCallChannel",
    "ModemCallChannel",
    "StillOpen",
    "TakeCharge",
    "call_speech",
    "console_task",
]
