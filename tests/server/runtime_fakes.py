"""Fakes for driving the hub's timed half in-process: a channel recorder, a stand-in for the
modem's SMS, and a recording publisher in place of the broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from loneguard.protocol.clock import FakeClock
from loneguard.server.escalation.notify.notification import (
    Channel,
    DeliveryResult,
    Notification,
    Recipient,
    channel_gap,
)
from loneguard.server.escalation.notify.sms_channel import sms_gap

WAIT = 5.0


@dataclass(frozen=True)
class Sent:
    channel: str
    name: str
    role: str
    phone: str | None
    alarm_id: int
    key: str
    monotonic: float
    wall_ms: int


class RecordingChannel:
    """A channel as the hub has it, which also remembers each attempt: what, to whom, and when
    (fake time). The attempt's result is the channel's own."""

    def __init__(self, channel: Channel, clock: FakeClock, log: list[Sent]) -> None:
        self.name = channel.name
        self._channel = channel
        self._clock = clock
        self._log = log

    async def send(self, n: Notification) -> DeliveryResult:
        self._log.append(
            Sent(
                n.channel,
                n.recipient.name,
                n.recipient.role,
                n.recipient.phone,
                n.alarm_id,
                n.key,
                self._clock.monotonic(),
                self._clock.wall_ms(),
            )
        )
        return await self._channel.send(n)

    def gap(self, recipient: Recipient) -> str | None:
        return channel_gap(self._channel, recipient)


def recording_tap(clock: FakeClock, log: list[Sent]) -> Callable[[Channel], Channel]:
    """The hub's channel tap for tests: every attempt on every channel goes into ``log``."""
    return lambda channel: RecordingChannel(channel, clock, log)


class SmsStandIn:
    """The SMS channel of a GSM modem that delivers every text: hardware the test does not have."""

    name = "sms"

    async def send(self, n: Notification) -> DeliveryResult:
        return DeliveryResult(True, "delivered")

    def gap(self, recipient: Recipient) -> str | None:
        return sms_gap(recipient)  # the real channel's check: no number, nothing to text


class RecordingPublisher:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    async def publish(self, topic: str, payload: bytes, *, qos: int, retain: bool = False) -> None:
        self.published.append((topic, payload))


async def until(predicate: Callable[[], bool], timeout: float = WAIT) -> None:
    """Wait for the loop and the store's writer to catch up (never for a timer: time is fake)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.002)


async def settle(rounds: int = 20) -> None:
    """Let queued work run, when the test expects that nothing more happens."""
    for _ in range(rounds):
        await asyncio.sleep(0.002)
