"""Alarm SMS through the hub's GSM modem.

The text comes rendered (``notify.messages``: the alarm's facts, within ``messages.sms_max_parts``
parts); the channel sends it whole as one concatenated SMS (``Modem.send_long_sms``: PDU mode,
GSM 7-bit or UCS-2). The modem driver blocks (it waits on a serial line), so every exchange runs
in a worker thread. A failed send is retryable: the dispatcher tries again later. Before reporting
the failure the channel runs ``modem.recover()``, so the retry meets a working modem if one can be
had. ``gap`` says, before anything is sent, that a recipient has no number to text.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

from loneguard.gsm.at import PHONE_NUMBER, ModemError
from loneguard.gsm.modem import Modem
from loneguard.gsm.redact import mask_number
from loneguard.server.escalation.notify.notification import (
    DeliveryResult,
    Notification,
    Recipient,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
DEFAULT_MAX_PARTS = 3


def sms_gap(recipient: Recipient) -> str | None:
    """Why this recipient cannot be texted at all, or None."""
    if not recipient.phone:
        return f"no phone number for {recipient.role}"
    if not PHONE_NUMBER.fullmatch(recipient.phone):
        return f"the number stored for {recipient.role} is not a phone number"
    return None


class SmsChannel:
    """Sends ``n.text`` to ``n.recipient.phone`` through the modem, in at most ``max_parts``."""

    name = "sms"

    def __init__(
        self,
        modem: Modem,
        *,
        executor: Executor | None = None,
        max_parts: int = DEFAULT_MAX_PARTS,
    ) -> None:
        self._modem = modem
        self._executor = executor
        self.max_parts = max_parts

    def gap(self, recipient: Recipient) -> str | None:
        return sms_gap(recipient)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            return await asyncio.to_thread(fn, *args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def send(self, n: Notification) -> DeliveryResult:
        phone = n.recipient.phone
        if not phone:
            return DeliveryResult(False, f"no phone number for {n.recipient.role}", False)
        send = functools.partial(self._modem.send_long_sms, max_parts=self.max_parts)
        try:
            references = await self._run(send, phone, n.text)
        except ValueError:
            return DeliveryResult(
                False, f"invalid phone number or text too long for {n.recipient.role}", False
            )
        except Exception as exc:
            # ModemError and ModemTimeout name the command and port, never the number; anything
            # else (a half-closed serial port) is described by its type alone.
            error = str(exc) if isinstance(exc, ModemError) else f"unexpected {type(exc).__name__}"
            log.warning("alarm %d: SMS to %s failed: %s", n.alarm_id, mask_number(phone), error)
            try:
                recovered = await self._run(self._modem.recover)
            except Exception as rexc:
                log.error("alarm %d: modem recovery raised %s", n.alarm_id, type(rexc).__name__)
                recovered = False
            state = "modem recovered" if recovered else "modem recovery failed"
            return DeliveryResult(False, f"{error} ({state})", retryable=True)
        parts = len(references)
        shown = ", ".join(str(r) for r in references)
        unit = "part" if parts == 1 else "parts"
        return DeliveryResult(True, f"SMS sent in {parts} {unit} (mr {shown})", retryable=False)


__all__ = ["SmsChannel", "sms_gap"]
