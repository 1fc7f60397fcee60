"""Rows of the delivery manager's copies, the calendar feeds and the signal black spots."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class FeedScope(StrEnum):
    WORKER = "worker"  # one worker's visits (subject: the worker id)
    TEAM = "team"  # a line manager's team (subject: the line manager's worker id)
    ALL = "all"  # every worker's visits


@dataclass(frozen=True)
class CalendarFeed:
    """A calendar subscription. Its secret is never kept: only its hash finds it."""

    id: int
    label: str
    scope: FeedScope
    subject: str | None
    with_addresses: bool  # False: times and worker only (a viewer's feed)
    created_by: str
    created_ms: int
    revoked_ms: int | None = None


class ArrangementChange(StrEnum):
    PLAN = "plan"
    CHANGE = "change"
    CANCEL = "cancel"


@dataclass(frozen=True)
class ArrangementCopy:
    """One copy of a visit's arrangements to one recipient over one channel, and how it went."""

    id: int
    session_id: int
    change: ArrangementChange
    channel: str  # "apprise" | "sms"
    recipient: str  # a reference ("config:urls[1]", "worker:<id>", "config:<name>"), no number
    state: str  # "pending" | "sent" | "failed"
    detail: str | None
    created_ms: int
    updated_ms: int


@dataclass(frozen=True)
class SignalSample:
    """What one heartbeat said of the signal where the unit was."""

    at_ms: int
    poor: bool
    dbm: int | None


@dataclass(frozen=True)
class SignalMinute:
    """One device's heartbeat samples of one minute, written together."""

    device_id: str
    samples: tuple[SignalSample, ...]


@dataclass(frozen=True)
class SignalSpot:
    """The signal the workers' units had at one visit address, over every visit there."""

    address_key: str
    address: str = field(repr=False)
    samples: int
    poor_samples: int
    worker_flags: int
    worst_dbm: int | None
    first_seen_ms: int
    last_seen_ms: int
    last_poor_ms: int | None

    @property
    def poor_share(self) -> float:
        return self.poor_samples / self.samples if self.samples else 0.0


@dataclass(frozen=True)
class VisitChange:
    """A planned visit's arrangements as changed in the planner."""

    address: str
    contact_name: str | None
    contact_phone: str | None
    accompanied: bool
    approved_by: str | None
    planned_start_ms: int
    expected_end_ms: int
