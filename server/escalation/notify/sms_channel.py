"""Alarm SMS through the hub's GSM modem.

The modem driver blocks (it waits on a serial line), so every exchange runs in a worker thread.
A failed send is retryable: the dispatcher tries again later. Before reporting the failure the
channel runs ``modem.recover()``, so the retry meets a working modem if one can be had.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from concurrent.futures import Executor
from typing import TypeVar

from loneguard.gsm.at import ModemError
from loneguard.gsm.modem import Modem
from loneguard.gsm.redact import mask_number
from loneguard.gsm.sms import MAX_SMS_SEPTETS, sms_text
from loneguard.server.escalation.notify.notification import DeliveryResult, Notification

log = logging.getLogger(__name__)

T = TypeVar("T")
ELLIPSIS = "..."


def _fits(text: str) -> bool:
    try:
        sms_text(text)
    except ValueError:
        return False
    return True


def _sendable(text: str) -> str:
    """``sms_text`` for text of any length: typography made ASCII, the rest '?'."""
    # A character becomes at most three ("…" → "..."), so 50 at a time always fit in one SMS.
    return "".join(sms_text(text[i : i + 50]) for i in range(0, len(text), 50))


def alarm_sms(alarm_id: int, text: str) -> str:
    """One SMS: ``loneguard alarm 12: <text> Reply ACK 12 to take charge``.

    The message is cut (ending in "...") so the whole fits in one SMS; the alarm id and the
    ACK instruction are always kept. Text that already names the alarm or the ACK is not framed
    twice.
    """
    prefix = f"loneguard alarm {alarm_id}: "
    suffix = f" Reply ACK {alarm_id} to take charge"
    body = " ".join(_sendable(text).split())  # one line, single spaces
    if body.lower().startswith(prefix.strip().lower()):
        prefix = ""
    if f"ack {alarm_id}" in body.lower():
        suffix = ""
    whole = prefix + body + suffix
    if _fits(whole):
        return whole
    low, high = 0, len(body)  # longest cut of the body that fits, found by bisection
    while low < high:
        mid = (low + high + 1) // 2
        if _fits(prefix + body[:mid].rstrip() + ELLIPSIS + suffix):
            low = mid
        else:
            high = mid - 1
    return prefix + body[:low].rstrip() + ELLIPSIS + suffix


class SmsChannel:
    """Sends ``n.text`` (framed by ``alarm_sms``) to ``n.recipient.phone`` through the modem."""

    name = "sms"

    def __init__(self, modem: Modem, *, executor: Executor | None = None) -> None:
        self._modem = modem
        self._executor = executor

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            return await asyncio.to_thread(fn, *args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def send(self, n: Notification) -> DeliveryResult:
        phone = n.recipient.phone
        if not phone:
            return DeliveryResult(False, f"no phone number for {n.recipient.role}", False)
        text = alarm_sms(n.alarm_id, n.text)
        try:
            reference = await self._run(self._modem.send_sms, phone, text)
        except ValueError:
            return DeliveryResult(False, f"invalid phone number for {n.recipient.role}", False)
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
        return DeliveryResult(True, f"SMS sent (mr {reference})", retryable=False)


__all__ = ["MAX_SMS_SEPTETS", "SmsChannel", "alarm_sms"]
