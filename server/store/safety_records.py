"""What the store keeps about risk and incidents (rows of migration step 7): risk assessments
of visits and lone-working patterns, incidents and the actions they lead to."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from loneguard.server.store.records import Alarm


class RiskRating(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class RiskAssessment:
    """One assessment: of a visit (``session_id``) or of a lone-working pattern (``pattern``,
    e.g. "Tuesday evening classes, Bridge Centre"), never both."""

    id: int  # 0 until stored
    session_id: int | None
    pattern: str | None
    worker_id: str | None
    environment: str
    context: str
    individuals: str
    history: str
    allegation: str
    other: str
    rating: RiskRating
    measures: str
    override_by: str | None
    override_reason: str | None
    assessed_by: str
    assessed_ms: int


class IncidentKind(StrEnum):
    ALARM = "alarm"  # reported from an alarm's resolution
    NEAR_MISS = "near_miss"
    THREAT = "threat"  # e.g. a threat by phone
    INJURY = "injury"
    OTHER = "other"


class IncidentSeverity(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class IncidentStatus(StrEnum):
    REPORTED = "reported"
    INVESTIGATING = "investigating"
    CLOSED = "closed"


@dataclass(frozen=True)
class Incident:
    id: int  # 0 until stored
    kind: IncidentKind
    status: IncidentStatus
    severity: IncidentSeverity
    occurred_ms: int
    what: str
    address: str | None  # where; personal data: shown to admins and managers only
    people: str  # who was involved
    worker_id: str | None
    alarm_id: int | None
    session_id: int | None
    contact_name: str | None
    contact_phone: str | None
    immediate_actions: str
    investigator: str | None
    findings: str
    reported_by: str
    reported_ms: int
    closed_by: str | None = None
    closed_ms: int | None = None


@dataclass(frozen=True)
class IncidentAction:
    """Something to be done after an incident, by whom and by when."""

    id: int  # 0 until stored
    incident_id: int
    what: str
    owner: str
    due_ms: int
    done_ms: int | None = None
    done_by: str | None = None


@dataclass(frozen=True)
class PlaceHistory:
    """What happened before at an address or with a contact: shown while planning a visit."""

    incidents: tuple[Incident, ...] = field(default=())
    alarms: tuple[Alarm, ...] = field(default=())


class IncidentNotFound(LookupError):
    pass


class IncidentConflict(RuntimeError):
    """The change is not allowed from the incident's status (e.g. reopening a closed one)."""
