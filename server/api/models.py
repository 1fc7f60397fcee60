"""The JSON API's shapes, so the OpenAPI document says what each route returns."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from server.store import Alarm, AlarmKind, AlarmState, Device, EventRow, Worker


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

    @classmethod
    def of(cls, w: Worker) -> WorkerOut:
        return cls(**w.__dict__)


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
