"""The JSON API's shapes, so the OpenAPI document says what each route returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, field_validator

from loneguard.server.api.safety_models import RiskAssessmentOut
from loneguard.server.bounds import DeviceId, RowId, WallMs, WorkerId
from loneguard.server.sessions.rules import DEFAULT_EXTEND_MINUTES, MAX_MINUTES, MAX_TEXT
from loneguard.server.store import (
    Alarm,
    AlarmKind,
    AlarmState,
    Device,
    EventRow,
    RegisterEntry,
    Session,
    SessionKind,
    SessionState,
    VisitPlan,
    VisitRecord,
    Worker,
)

__all__ = ["RowId"]  # the routes' row ids: refused (422) past 64 bits, not overflowed (500)


class Health(BaseModel):
    status: Literal["ok", "error"]
    mqtt: Literal["connected", "disconnected"]
    db: Literal["ok", "error"]
    rejected: int = Field(description="messages rejected into the dead-letter table since start")


class DeviceOut(BaseModel):
    id: str
    worker_id: str | None
    online: bool
    boot: int | None
    fw: str | None
    last_seen_ms: int | None
    last_heartbeat_ms: int | None
    rssi: int | None
    battery: int | None
    queued: int | None
    last_checkin_ms: int | None

    @classmethod
    def of(cls, d: Device) -> DeviceOut:
        return cls(**d.__dict__)


class WorkerOut(BaseModel):
    id: str
    name: str
    mobile: str | None
    home_phone: str | None
    line_manager: str | None
    last_checkin_ms: int | None
    policy: str | None
    # apprise URLs hold their services' tokens: written, never read back

    @classmethod
    def of(cls, w: Worker) -> WorkerOut:
        return cls(
            id=w.id,
            name=w.name,
            mobile=w.mobile,
            home_phone=w.home_phone,
            line_manager=w.line_manager,
            last_checkin_ms=w.last_checkin_ms,
            policy=w.policy,
        )


class AlarmOut(BaseModel):
    id: int
    kind: AlarmKind
    state: AlarmState
    device_id: str | None
    worker_id: str | None
    event_id: str | None
    opened_ms: int
    acknowledged_by: str | None
    acknowledged_ms: int | None
    resolved_by: str | None
    resolved_ms: int | None
    outcome: str | None
    notes: str | None
    policy: str | None
    session_id: int | None
    started_ms: int | None
    next_step_ms: int | None
    checked_in_ms: int | None = Field(
        None, description="the worker checked in while it was open: its escalation stopped"
    )
    checked_in_device: str | None = Field(None, description="the device they checked in from")

    @classmethod
    def of(cls, a: Alarm) -> AlarmOut:
        return cls(**a.__dict__)


class EventOut(BaseModel):
    id: str
    device_id: str
    kind: str
    ts_ms: int = Field(description="when the button was pressed, by the device's clock")
    seq: int
    link: str
    received_ms: int = Field(description="when the hub received it, by the hub's clock")
    body: dict[str, Any] = Field(description="the event as the device sent it")
    links: list[str] = Field(
        description="every path it arrived by, first first (`link` is the first): "
        '["sms", "mqtt"] when the SMS fallback beat the MQTT copy, which then completed it'
    )

    @classmethod
    def of(cls, e: EventRow) -> EventOut:
        return cls(**e.__dict__)


class AcknowledgeIn(BaseModel):
    by: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="who takes charge; the token's name when left out",
    )


class Problem(BaseModel):
    detail: str


class ResolveIn(BaseModel):
    outcome: str = Field(min_length=1, max_length=200, description="what happened, in a line")
    notes: str = Field(min_length=1, max_length=5000, description="what was done, and by whom")

    @field_validator("outcome", "notes")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value.strip()


class SessionIn(BaseModel):
    kind: SessionKind = SessionKind.VISIT
    worker_id: WorkerId | None = None
    device_id: DeviceId | None = Field(
        default=None, description="the worker's device when left out"
    )
    minutes: int | None = Field(
        default=None, ge=1, le=MAX_MINUTES, description="a visit's length from now"
    )
    expected_end_ms: WallMs | None = Field(
        default=None, description="or its end as a time, within a year of now"
    )
    address: str | None = Field(default=None, max_length=MAX_TEXT)
    contact_name: str | None = Field(default=None, max_length=100)
    contact_phone: str | None = Field(default=None, max_length=32)
    accompanied: bool = False
    approved_by: str | None = Field(
        default=None,
        max_length=100,
        description="the line manager who approved an unaccompanied visit (CIC App.1 5.1.1)",
    )
    checkin_interval_s: int | None = Field(default=None, ge=60, le=24 * 3600)
    grace_s: int | None = Field(default=None, ge=0, le=24 * 3600)
    shift_type: str | None = Field(
        default=None,
        max_length=64,
        description="a shift's type (`home_working`, `building`, ...): its check-in interval "
        "when none is given, and the escalation policy of a missed check-in",
    )


class ExtendIn(BaseModel):
    minutes: int = Field(default=DEFAULT_EXTEND_MINUTES, ge=1, le=MAX_MINUTES)


class SessionOut(BaseModel):
    id: int
    worker_id: str | None
    device_id: str | None
    kind: SessionKind
    state: SessionState
    started_ms: int
    expected_end_ms: int | None
    grace_s: int
    prealert_s: int
    prealert_sent: bool
    address: str | None
    contact_name: str | None
    contact_phone: str | None
    accompanied: bool
    approved_by: str | None
    checkin_interval_s: int | None
    last_checkin_ms: int | None
    ended_ms: int | None
    ended_by: str | None
    next_deadline_ms: int | None

    @classmethod
    def of(cls, s: Session) -> SessionOut:
        return cls(**s.__dict__)


class VisitPlanOut(BaseModel):
    planned_start_ms: int = Field(description="when the visit is meant to start")
    planned_by: str = Field(description="who planned it: `user:<name>` on the console")

    @classmethod
    def of(cls, p: VisitPlan) -> VisitPlanOut:
        return cls(planned_start_ms=p.planned_start_ms, planned_by=p.planned_by)


class VisitOut(SessionOut):
    """A visit session, with its plan (visits planned on the console) and whether it has a
    record (read it at ``/api/visits/{id}/record``)."""

    plan: VisitPlanOut | None
    has_record: bool
    risk: RiskAssessmentOut | None = Field(
        default=None, description="its risk assessment (the text for managers and admins)"
    )

    @classmethod
    def visit(cls, s: Session, plan: VisitPlan | None, has_record: bool) -> VisitOut:
        return cls(
            **s.__dict__,
            plan=VisitPlanOut.of(plan) if plan is not None else None,
            has_record=has_record,
        )


class VisitRecordOut(BaseModel):
    session_id: int
    reason: str
    points: str = Field(description="points discussed")
    agreements: str = Field(description="agreements reached")
    concerns: str
    written_by: str = Field(description="the console user who wrote (or last corrected) it")
    written_ms: int

    @classmethod
    def of(cls, r: VisitRecord) -> VisitRecordOut:
        return cls(**r.__dict__)


class RegisterOut(BaseModel):
    worker_id: str | None
    device_id: str | None
    signed_in_ms: int

    @classmethod
    def of(cls, r: RegisterEntry) -> RegisterOut:
        return cls(worker_id=r.worker_id, device_id=r.device_id, signed_in_ms=r.signed_in_ms)


class WorkerIn(BaseModel):
    id: WorkerId | None = None
    name: str = Field(min_length=1, max_length=100)
    mobile: str | None = Field(default=None, max_length=32)
    home_phone: str | None = Field(default=None, max_length=32)
    line_manager: WorkerId | None = Field(default=None, description="a worker id")
    apprise_urls: list[str] = Field(default_factory=list, max_length=10)
    policy: str | None = Field(default=None, max_length=64, description="a team overdue policy")


class DeviceIn(BaseModel):
    worker_id: WorkerId | None = None
    sms_secret: str | None = Field(
        default=None, min_length=16, max_length=128, description="write-only: never read back"
    )
