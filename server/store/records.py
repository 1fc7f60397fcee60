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
    line_manager: str | None = None  # a worker id
    last_checkin_ms: int | None = None
    apprise_urls: tuple[str, ...] = ()
    policy: str | None = None  # the team's overdue policy name; None: by alarm kind


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
class LastHeard:
    """A device's newest heartbeat since the last batch: when it came and the health it told."""

    device_id: str
    at_ms: int
    rssi: int | None = None
    battery: int | None = None
    queued: int | None = None


@dataclass(frozen=True)
class DeviceStanding:
    """Whether a device was given credentials (``devices provision``) and whether revoked."""

    provisioned: bool
    revoked: bool


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
    # Every path the event arrived by, first first (``link`` is the first): ("sms", "mqtt")
    # for a panic whose SMS fallback beat its MQTT copy.
    links: tuple[str, ...] = ()


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
    policy: str | None = None  # the escalation policy it keeps for its whole life
    session_id: int | None = None
    started_ms: int | None = None  # the ladder counts from here
    next_step_ms: int | None = None  # the ladder's next deadline; None: nothing scheduled
    # The worker checked in while it was open (overdue, missed check-in): its ladder stopped.
    checked_in_ms: int | None = None
    checked_in_device: str | None = None


class SessionKind(StrEnum):
    VISIT = "visit"
    SHIFT = "shift"


class SessionState(StrEnum):
    ACTIVE = "active"
    DUE = "due"  # the expected time has passed; the grace period is running
    OVERDUE = "overdue"  # an alarm is open
    ENDED = "ended"


@dataclass(frozen=True)
class Session:
    """A period of lone working: a home visit until an expected end, or a shift of check-ins."""

    id: int
    worker_id: str | None
    device_id: str | None
    kind: SessionKind
    state: SessionState
    started_ms: int
    expected_end_ms: int | None
    grace_s: int
    prealert_s: int
    prealert_sent: bool = False
    address: str | None = None
    contact_name: str | None = None
    contact_phone: str | None = None
    accompanied: bool = False
    approved_by: str | None = None
    checkin_interval_s: int | None = None
    last_checkin_ms: int | None = None
    ended_ms: int | None = None
    ended_by: str | None = None
    next_deadline_ms: int | None = None


@dataclass(frozen=True)
class RegisterEntry:
    id: int
    worker_id: str | None
    device_id: str | None
    signed_in_ms: int
    signed_out_ms: int | None = None


class NotificationState(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    # Never attempted: the channel, or the recipient's number or URL, is not configured.
    NOT_CONFIGURED = "not_configured"


@dataclass(frozen=True)
class NotificationRow:
    """One send of one ladder action to one recipient over one channel.

    ``key`` is the idempotency key; ``recipient_ref`` says how to find the recipient again (a
    worker id, a configured person's name, a session id): never a phone number.
    """

    id: int
    key: str
    action_key: str
    alarm_id: int
    step: int
    repeat: int
    channel: str
    recipient_name: str
    recipient_role: str
    recipient_ref: str
    text: str
    state: NotificationState
    attempts: int
    last_result: str | None
    created_ms: int
    updated_ms: int


@dataclass(frozen=True)
class NotificationAttempt:
    """One attempt to send a notification row (by its key) and how it went."""

    key: str
    attempt: int
    ok: bool
    final: bool  # no more attempts will follow: FAILED if not ok
    detail: str
    at_ms: int


@dataclass(frozen=True)
class NewNotification:
    """A notification row to create; ``failed`` with a reason when nobody fills the role."""

    key: str
    action_key: str
    step: int
    repeat: int
    channel: str
    recipient_name: str
    recipient_role: str
    recipient_ref: str
    text: str
    state: NotificationState = NotificationState.PENDING
    last_result: str | None = None


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


@dataclass(frozen=True)
class StartVisit:
    """A visit started from the device: until ``minutes`` from now, for the device's worker."""

    minutes: int
    grace_s: int
    prealert_s: int


@dataclass(frozen=True)
class ExtendSession:
    minutes: int


@dataclass(frozen=True)
class EndSession:
    """End the device's visit (a check-in or session_end); a check-in resets a shift instead."""

    by_checkin: bool = False


@dataclass(frozen=True)
class SignIn:
    pass


@dataclass(frozen=True)
class SignOut:
    pass


Effect = OpenAlarm | RecordCheckin | StartVisit | ExtendSession | EndSession | SignIn | SignOut


@dataclass(frozen=True)
class EventOutcome:
    """``inserted`` is False for a duplicate (the same device's id again), which has no effects
    the second time; ``completed`` says the duplicate filled in the stored record (the MQTT copy
    of an event first stored from its SMS line)."""

    inserted: bool
    alarms: tuple[Alarm, ...] = field(default=())
    sessions: tuple[Session, ...] = field(default=())  # sessions the event changed
    checked_in: tuple[Alarm, ...] = field(default=())  # open alarms the check-in stopped
    completed: bool = False


class SessionNotFound(LookupError):
    pass


class SessionConflict(RuntimeError):
    """The session is in a state that forbids the change (e.g. extending an ended session)."""


class AlarmNotFound(LookupError):
    pass


class AlarmConflict(RuntimeError):
    """The alarm is in a state that forbids the change (e.g. acknowledging a resolved alarm)."""

    def __init__(self, alarm: Alarm, message: str) -> None:
        super().__init__(message)
        self.alarm = alarm


@dataclass(frozen=True)
class VisitPlan:
    """When a visit planned on the console is meant to start (its session starts at once)."""

    session_id: int
    planned_start_ms: int
    planned_by: str


@dataclass(frozen=True)
class VisitRecord:
    """What a manager wrote about a visit: kept until the retention purge forgets it."""

    session_id: int
    reason: str
    points: str
    agreements: str
    concerns: str
    written_by: str
    written_ms: int


@dataclass(frozen=True)
class ConsoleUser:
    name: str
    role: Role
    password_hash: str
    disabled: bool = False


@dataclass(frozen=True)
class ConsoleLogin:
    user: ConsoleUser
    csrf: str
    expires_ms: int


class ConsoleUserExists(ValueError):
    pass
