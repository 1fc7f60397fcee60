"""What every notifier shares: who is told, what they are told, and how it went.

A ``Notification`` is one message to one recipient over one channel. Its ``key`` is the
idempotency key the escalation engine makes (unique per alarm, step, repeat, recipient and
channel), so a notification re-planned after a restart is recognised as the same one.
A ``Channel`` makes one attempt and says whether trying again could help.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Recipient:
    """A person on a ladder. ``phone`` and ``apprise_urls`` are secrets in logs: never shown."""

    name: str
    role: str
    phone: str | None = field(default=None, repr=False)
    apprise_urls: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Notification:
    key: str
    alarm_id: int
    channel: str  # "console" | "sms" | "call" | "apprise" | "arc"
    recipient: Recipient
    text: str = field(repr=False)
    # A panic or duress alarm's: sent ahead of other alarms' whenever its channel is busy.
    urgent: bool = False


@dataclass(frozen=True)
class DeliveryResult:
    """One attempt's outcome. ``detail`` is safe to log and store: no numbers, text or URLs."""

    ok: bool
    detail: str
    retryable: bool = False
    # Handed to a person (a call to make from the console): not delivered, not failed, not
    # retried; the notification stays pending until the person records how it went.
    awaiting_person: bool = False
    # Handed to a sender that keeps trying by itself until it is delivered (the ARC link, which
    # stores the message and resends it until the ARC acks): not failed, not retried by the
    # dispatcher; the row stays pending, and an attempt after a restart asks the sender again.
    handed_over: bool = False


class Channel(Protocol):
    name: str

    async def send(self, n: Notification) -> DeliveryResult: ...


class ConfiguredChannel(Protocol):
    """A channel that can tell, before any attempt, that a recipient cannot be reached on it
    (no number, no URL): the row is then recorded as not configured, never as a failed send."""

    def gap(self, recipient: Recipient) -> str | None: ...


def channel_gap(channel: object, recipient: Recipient) -> str | None:
    """``channel.gap(recipient)`` for a channel that has one; None (no gap) for any other."""
    gap = getattr(channel, "gap", None)
    if not callable(gap):
        return None
    reason = gap(recipient)
    return reason if isinstance(reason, str) else None


__all__ = [
    "Channel",
    "ConfiguredChannel",
    "DeliveryResult",
    "Notification",
    "Recipient",
    "channel_gap",
]
