"""The hub's side of SMS: responders' ``ACK <alarm id>`` replies and devices' fallback lines.

``run`` polls the modem in a worker thread (the driver blocks on the serial line) and handles
each message in turn:

- ``ACK 12`` (any case, any spacing) goes to ``on_ack(12, sender)``; the callback decides
  whether the sender may take charge and returns the reply to send, or None;
- ``LG1 <device> <KIND> <id> <ts> <hmac8>`` is checked against the device's secret and goes to
  ``on_fallback(device_id, event)``, the same ingest (and dedupe) as MQTT;
- anything else is ignored.

A message is deleted from the SIM only after its callback has completed, so a crash in between
means it is read again (the modem's periodic sweep returns undeleted messages) and ingest
dedupes it. A callback that raises leaves the message on the SIM for the next sweep. A modem
error leads to ``modem.recover()``; when that fails the gateway waits (on the injected clock,
doubling up to ``retry_max``) and tries again. Nothing here ever crashes the hub.

Logs name the sender masked and the rejected field, never a message's text.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from typing import TypeVar

from loneguard.gsm.at import ModemError
from loneguard.gsm.modem import Modem
from loneguard.gsm.sms import Sms
from loneguard.protocol.clock import Clock
from loneguard.protocol.errors import ProtocolError
from loneguard.protocol.messages import Event
from loneguard.protocol.sms import MAGIC, FallbackLine
from loneguard.server.loop_timer import call_later_on_loop

log = logging.getLogger(__name__)

T = TypeVar("T")

OnAck = Callable[[int, str], Awaitable[str | None]]
OnFallback = Callable[[str, Event], Awaitable[None]]
SecretFor = Callable[[str], bytes | None]

ACK_PATTERN = re.compile(r"\s*ack\s*#?\s*(\d{1,9})\s*[.!]?\s*", re.IGNORECASE)


def parse_ack(text: str) -> int | None:
    """``ACK 12``, ``ack12``, `` Ack  12 `` → 12; anything else → None."""
    match = ACK_PATTERN.fullmatch(text)
    return int(match.group(1)) if match else None


def _describe(exc: Exception) -> str:
    """A modem error's own (masked) text; for anything else only its type."""
    return str(exc) if isinstance(exc, ModemError) else f"unexpected {type(exc).__name__}"


class SmsGateway:
    def __init__(
        self,
        modem: Modem,
        clock: Clock,
        *,
        on_ack: OnAck,
        on_fallback: OnFallback,
        secret_for: SecretFor,
        poll_interval: float = 2.0,
        retry_base: float = 1.0,
        retry_max: float = 60.0,
        send_replies: bool = True,
        executor: Executor | None = None,
    ) -> None:
        self._modem = modem
        self._clock = clock
        self._on_ack = on_ack
        self._on_fallback = on_fallback
        self._secret_for = secret_for
        self.poll_interval = poll_interval
        self.retry_base = retry_base
        self.retry_max = retry_max
        self.send_replies = send_replies
        self._executor = executor
        self._stopping = False
        self._wake: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Counters for metrics and tests.
        self.received = 0
        self.acks = 0
        self.fallbacks = 0
        # Test SMS (selftest --sms) by device: the device's timestamp of the last one.
        self.tests: dict[str, int] = {}
        self.rejected = 0
        self.rejections: Counter[str] = Counter()  # by ProtocolError field
        self.ignored = 0
        self.replies = 0
        self.callback_errors = 0
        self.modem_errors = 0

    # -- life cycle -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Poll and handle messages until ``stop``. Never raises for modem or message trouble."""
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._stopping = False
        failures = 0
        ready = False
        while not self._stopping:
            try:
                if not ready:
                    await self._blocking(self._modem.initialise)
                    ready = True
                messages = await self._blocking(self._modem.poll_incoming, self.poll_interval)
                failures = 0
            except Exception as exc:
                # ModemError (masked text), or whatever a half-closed serial port raises.
                self.modem_errors += 1
                log.warning("SMS gateway: modem error: %s", _describe(exc))
                if await self._blocking(self._recover):
                    ready = True  # recover() initialised the modem
                    continue
                failures += 1
                await self._pause(min(self.retry_max, self.retry_base * 2.0 ** min(failures, 30)))
                continue
            for sms in messages:
                if self._stopping:
                    break
                await self._handle(sms)

    def stop(self) -> None:
        """Ask ``run`` to return (after the poll under way, at most ``poll_interval``)."""
        self._stopping = True
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(wake.set)

    # -- one message ----------------------------------------------------------------------------

    async def _handle(self, sms: Sms) -> None:
        self.received += 1
        text = sms.text.strip()
        try:
            alarm_id = parse_ack(text)
            if alarm_id is not None:
                await self._ack(alarm_id, sms)
            elif text.startswith(MAGIC + " ") or text == MAGIC:
                await self._fallback(text, sms)
            else:
                self.ignored += 1
                log.info("SMS from %s ignored: neither ACK nor %s", sms.masked_sender, MAGIC)
        except Exception as exc:
            # Left on the SIM: the modem's next sweep returns it, and ingest dedupes.
            self.callback_errors += 1
            log.error(
                "SMS from %s: handler failed (%s); kept on the SIM for a retry",
                sms.masked_sender,
                type(exc).__name__,
            )
            return
        await self._delete(sms)

    async def _ack(self, alarm_id: int, sms: Sms) -> None:
        self.acks += 1
        log.info("ACK for alarm %d from %s", alarm_id, sms.masked_sender)
        reply = await self._on_ack(alarm_id, sms.sender)
        if reply and self.send_replies:
            try:
                await self._blocking(self._modem.send_sms, sms.sender, reply)
                self.replies += 1
            except ValueError:
                # An alphanumeric sender, or a reply too long for one SMS.
                log.warning("no reply to %s: not sendable", sms.masked_sender)
            except Exception as exc:
                self.modem_errors += 1
                log.warning("reply to %s failed: %s", sms.masked_sender, _describe(exc))
                await self._blocking(self._recover)

    async def _fallback(self, text: str, sms: Sms) -> None:
        try:
            line, mac = FallbackLine.parse_unverified(text)
            secret = self._secret_for(line.device_id)
            if secret is None:
                raise ProtocolError("sms.device_id", "unknown device")
            line.verify(mac, secret)
        except ProtocolError as exc:
            self.rejected += 1
            self.rejections[exc.field] += 1
            log.warning("fallback SMS from %s rejected: bad %s", sms.masked_sender, exc.field)
            return
        if line.is_test:
            # selftest --sms: proof the device's SMS path reaches the hub; never an alarm.
            self.tests[line.device_id] = line.ts
            log.info(
                "test SMS from device %s (via %s): no alarm", line.device_id, sms.masked_sender
            )
            return
        self.fallbacks += 1
        log.info(
            "fallback %s from device %s (via %s)", line.kind, line.device_id, sms.masked_sender
        )
        await self._on_fallback(line.device_id, line.to_event())

    async def _delete(self, sms: Sms) -> None:
        if sms.index is None:
            return  # delivered straight to us (+CMT), never stored
        try:
            await self._blocking(self._modem.delete_sms, sms.index)
        except Exception as exc:
            # Still on the SIM: read and handled again after recovery; ingest dedupes.
            self.modem_errors += 1
            log.warning("SIM slot %d not deleted: %s", sms.index, _describe(exc))
            await self._blocking(self._recover)

    # -- helpers --------------------------------------------------------------------------------

    def _recover(self) -> bool:
        try:
            return self._modem.recover()
        except Exception as exc:
            log.error("SMS gateway: modem recovery raised %s", type(exc).__name__)
            return False

    async def _blocking(self, fn: Callable[..., T], *args: object) -> T:
        if self._executor is None:
            return await asyncio.to_thread(fn, *args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` on the injected clock, or until ``stop``."""
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or self._stopping:
            return
        wake.clear()
        if self._stopping:
            return
        timer = call_later_on_loop(self._clock, loop, seconds, wake.set)
        try:
            await wake.wait()
        finally:
            timer.cancel()


__all__ = ["ACK_PATTERN", "SmsGateway", "parse_ack"]
