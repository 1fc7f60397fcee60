"""The JSON API's shapes for risk assessments, incidents and the policy review.

Viewers' copies carry no addresses, contacts or free text that may name people and places:
the ``*Out.of(..., personal=False)`` constructors leave those fields out (null).
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from loneguard.server.console.review import Review
from loneguard.server.risk.assessment import MAX_TEXT
from loneguard.server.store.safety_records import (
    Incident,
    IncidentAction,
    IncidentKind,
    IncidentSeverity,
    IncidentStatus,
    RiskAssessment,
    RiskRating,
)

_FREE_TEXT = (
    "environment",
    "context",
    "individuals",
    "history",
    "allegation",
    "other",
    "measures",
    "override_reason",
)


class RiskAssessmentIn(BaseModel):
    environment: str = Field(default="", max_length=MAX_TEXT, description="CIC 8.1.1")
    context: str = Field(default="", max_length=MAX_TEXT, description="CIC 8.1.2")
    individuals: str = Field(default="", max_length=MAX_TEXT, description="CIC 8.1.3")
    history: str = Field(default="", max_length=MAX_TEXT, description="CIC 8.1.4")
    allegation: str = Field(default="", max_length=MAX_TEXT, description="school §6")
    other: str = Field(default="", max_length=MAX_TEXT, description="CIC 8.1.5")
    rating: RiskRating
    measures: str = Field(min_length=1, max_length=MAX_TEXT, description="CIC 7.9.3")
    override_reason: str | None = Field(
        default=None,
        max_length=MAX_TEXT,
        description="high risk and unaccompanied: why the line manager (the visit's approver)"
        " lets the worker go alone",
    )


class RiskAssessmentOut(BaseModel):
    id: int
    session_id: int | None
    pattern: str | None
    worker_id: str | None
    rating: RiskRating
    overridden: bool = Field(description="a high rating the line manager overrode")
    override_by: str | None
    assessed_by: str
    assessed_ms: int
    environment: str | None = None
    context: str | None = None
    individuals: str | None = None
    history: str | None = None
    allegation: str | None = None
    other: str | None = None
    measures: str | None = None
    override_reason: str | None = None

    @classmethod
    def of(cls, a: RiskAssessment, *, personal: bool) -> RiskAssessmentOut:
        texts = {name: getattr(a, name) for name in _FREE_TEXT} if personal else {}
        return cls(
            id=a.id,
            session_id=a.session_id,
            pattern=a.pattern,
            worker_id=a.worker_id,
            rating=a.rating,
            overridden=a.override_reason is not None,
            override_by=a.override_by,
            assessed_by=a.assessed_by,
            assessed_ms=a.assessed_ms,
            **texts,
        )


class IncidentIn(BaseModel):
    kind: IncidentKind
    severity: IncidentSeverity
    occurred_ms: int | None = Field(
        default=None, ge=0, le=2**62, description="when; now if left out"
    )
    what: str = Field(min_length=1, max_length=4000)
    address: str | None = Field(default=None, max_length=200)
    people: str = Field(default="", max_length=4000, description="who was involved")
    worker_id: str | None = Field(default=None, max_length=64)
    alarm_id: int | None = Field(
        default=None, ge=1, le=2**63 - 1, description="the alarm it comes from, if any"
    )
    contact_name: str | None = Field(default=None, max_length=200)
    contact_phone: str | None = Field(default=None, max_length=40)
    immediate_actions: str = Field(default="", max_length=4000)


class InvestigateIn(BaseModel):
    investigator: str = Field(min_length=1, max_length=200)


class FindingsIn(BaseModel):
    findings: str = Field(default="", max_length=4000)


class ActionIn(BaseModel):
    what: str = Field(min_length=1, max_length=4000)
    owner: str = Field(min_length=1, max_length=200)
    due_ms: int = Field(ge=0, le=2**62)


class ActionOut(BaseModel):
    id: int
    incident_id: int
    what: str
    owner: str
    due_ms: int
    done_ms: int | None
    done_by: str | None

    @classmethod
    def of(cls, a: IncidentAction) -> ActionOut:
        return cls(**a.__dict__)


class IncidentOut(BaseModel):
    id: int
    kind: IncidentKind
    status: IncidentStatus
    severity: IncidentSeverity
    occurred_ms: int
    what: str
    people: str
    worker_id: str | None
    alarm_id: int | None
    session_id: int | None
    immediate_actions: str
    investigator: str | None
    findings: str
    reported_by: str
    reported_ms: int
    closed_by: str | None
    closed_ms: int | None
    address: str | None = Field(default=None, description="admins and managers only")
    contact_name: str | None = Field(default=None, description="admins and managers only")
    contact_phone: str | None = Field(default=None, description="admins and managers only")
    actions: list[ActionOut] = Field(default_factory=list)

    @classmethod
    def of(cls, i: Incident, actions: list[IncidentAction], *, personal: bool) -> IncidentOut:
        values = dict(i.__dict__)
        if not personal:
            for name in ("address", "contact_name", "contact_phone"):
                values[name] = None
        return cls(**values, actions=[ActionOut.of(a) for a in actions])


class ReviewOut(BaseModel):
    period: str
    start_ms: int
    end_ms: int
    alarms_by_kind: dict[str, int]
    alarms_total: int
    acknowledged: int
    ack_p50_s: float | None
    ack_p95_s: float | None
    unacknowledged: int
    late_sessions: int
    incidents_by_severity: dict[str, int]
    incidents_by_status: dict[str, int]
    overdue_actions: int
    high_assessments: int
    high_overridden: int
    signal_spots: int | None = Field(
        description="black spots seen in the period (places with poor signal)"
    )

    @classmethod
    def of(cls, r: Review) -> ReviewOut:
        return cls(
            period=r.period.name,
            start_ms=r.period.start_ms,
            end_ms=r.period.end_ms,
            alarms_by_kind=r.alarms_by_kind,
            alarms_total=r.alarms_total,
            acknowledged=r.acknowledged,
            ack_p50_s=r.ack_p50_s,
            ack_p95_s=r.ack_p95_s,
            unacknowledged=r.unacknowledged,
            late_sessions=r.late_sessions,
            incidents_by_severity=r.incidents_by_severity,
            incidents_by_status=r.incidents_by_status,
            overdue_actions=len(r.overdue_actions),
            high_assessments=len(r.high_assessments),
            high_overridden=sum(1 for a in r.high_assessments if a.override_reason),
            signal_spots=len(r.signal_spots) if r.signal_spots is not None else None,
        )
