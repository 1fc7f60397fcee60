"""What the hub hands the ARC link, and what the link says about itself: the seam between the
escalation (which decides that an alarm event goes to the ARC) and the link (which numbers,
stores, sends and retries it). Value objects and protocols only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from loneguard.server.escalation.notify.notification import DeliveryResult

ArcEventKind = Literal["open", "restore"]


@dataclass(frozen=True)
class ArcAlarmEvent:
    """One alarm event for the ARC. ``key`` makes it idempotent across restarts and hubs:
    ``alarm:<id>:open`` or ``alarm:<id>:restore``; a second enqueue of a key is the first one.
    """

    key: str
    alarm_id: int
    alarm_kind: str  # store.records.AlarmKind value: contact_id.code_for_alarm maps it
    event: ArcEventKind
    worker_id: str | None
    device_id: str | None
    occurred_ms: int
    # The last GNSS fix the hub holds for the alarm, (latitude, longitude), or None.
    location: tuple[float, float] | None = None

    @staticmethod
    def key_for(alarm_id: int, event: ArcEventKind) -> str:
        return f"alarm:{alarm_id}:{event}"


@dataclass(frozen=True)
class ArcLinkState:
    """The link as the console shows it. ``up`` is False once a message (a supervision test or
    an alarm) could not be delivered to any receiver; it is True again at the next ack."""

    configured: bool
    up: bool
    last_ack_ms: int | None = None
    last_ack_receiver: str | None = None  # "primary" | "backup"
    down_since_ms: int | None = None
    failures: int = 0  # failed attempts since the last ack
    last_failure: str | None = None  # safe to show: no key, no personal data
    pending: int = 0  # alarm events stored but not yet acked
    next_test_ms: int | None = None


class ArcSink(Protocol):
    """Where the ``arc`` channel hands alarm events (the link implements it)."""

    @property
    def configured(self) -> bool: ...

    async def deliver(self, event: ArcAlarmEvent) -> DeliveryResult:
        """Store the event (idempotent on its key), send it and say how the first round went:
        ok (acked), or a failure the link keeps retrying by itself (``retryable=False``: the
        dispatcher must not retry what the link already retries)."""
        ...

    def enqueue(self, event: ArcAlarmEvent) -> None:
        """Store and send in the background (a restoral: nobody waits on it)."""
        ...

    def state(self) -> ArcLinkState: ...


__all__ = ["ArcAlarmEvent", "ArcEventKind", "ArcLinkState", "ArcSink"]
