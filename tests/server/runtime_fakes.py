"""Fakes for driving the hub's timed half in-process: recording channels and publisher."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from loneguard.protocol.clock import FakeClock
from loneguard.server.escalation.notify.notification import DeliveryResult, Notification

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
    """A channel that always delivers, and remembers what, to whom, and when (fake time)."""

    def __init__(self, name: str, clock: FakeClock, log: list[Sent]) -> None:
        self.name = name
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
        return DeliveryResult(True, "recorded")


def recording_channels(clock: FakeClock, log: list[Sent]) -> dict[str, RecordingChannel]:
    return {c: RecordingChannel(c, clock, log) for c in ("console", "call", "sms", "apprise")}


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
