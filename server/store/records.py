"""What the store keeps, as plain frozen rows; and the effects an event may have."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class AlarmKind(StrEnum):
    PANIC = "panic"
    DURESS = "duress"
    OVERDUE = "overdue"
    MISSED_CHECKIN = "missed_checkin"
    DEVICE_OFFLINE = "device_offline"


class AlarmState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    VIEWER = "viewer"


@dataclass(frozen=True)
class Worker:
    id: str
    name: str
    mobile: str | None = None
    home_phone: str | None = None
    line_manager: str | None = None
    last_checkin_ms: int | None = None


@dataclass(frozen=True)
class Device:
    id: str
    worker_id: str | None = None
    online: bool = False
    boot: int | None = None
    fw: str | None = None
    last_seen_ms: int | None = None
    last_heartbeat_ms: int | None = None
    rssi: int | None = None
    battery: int | None = None
    queued: int | None = None
    last_checkin_ms: int | None = None


@dataclass(frozen=True)
class EventRow:
    id: str
    device_id: str
    kind: str
    ts_ms: int
    seq: int
    link: str
    received_ms: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Alarm:
    id: int
    kind: AlarmKind
    state: AlarmState
    device_id: str | None
    worker_id: str | None
    event_id: str | None
    opened_ms: int
    acknowledged_by: str | None = None
    acknowledged_ms: int | None = None
    resolved_by: str | None = None
    resolved_ms: int | None = None
    outcome: str | None = None
    notes: str | None = None


@dataclass(frozen=True)
class DeadLetter:
    id: int
    received_ms: int
    topic: str
    payload: str
    payload_encoding: str  # "text" or "hex"
    payload_size: int
    reason: str


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at_ms: int
    actor: str
    action: str
    subject: str | None
    detail: dict[str, Any]


@dataclass(frozen=True)
class ApiToken:
    id: int
    name: str
    role: Role
    created_ms: int
    revoked_ms: int | None = None


# What an event does besides being recorded. Ingest decides; the store applies, in the same
# transaction as the event itself.
@dataclass(frozen=True)
class OpenAlarm:
    kind: AlarmKind


@dataclass(frozen=True)
class RecordCheckin:
    pass


Effect = OpenAlarm | RecordCheckin


@dataclass(frozen=True)
class EventOutcome:
    """``inserted`` is False for a duplicate id, which has no effects the second time."""

    inserted: bool
    alarms: tuple[Alarm, ...] = field(default=())


class AlarmNotFound(LookupError):
    pass


class AlarmConflict(RuntimeError):
    """The alarm is in a state that forbids the change (e.g. acknowledging a resolved alarm)."""

    def __init__(self, alarm: Alarm, message: str) -> None:
        super().__init__(message)
        self.alarm = alarm
