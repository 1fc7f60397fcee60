"""Every message of the wire contract as a frozen value object with ``encode``/``decode``.

``decode`` checks every field (type, range, presence, unknown fields, payload size) and raises
``ProtocolError`` naming the field; ``encode`` produces compact UTF-8 JSON.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from loneguard.protocol.fields import (
    EVENT_ID_PATTERN,
    MAX_TS_MS,
    Reader,
    dump_object,
    load_object,
)

MAX_SEQ = 2**53 - 1
MAX_SESSION_MINUTES = 24 * 60
FW_MAX_LENGTH = 32
REASON_MAX_LENGTH = 200


class EventKind(StrEnum):
    CHECKIN = "checkin"
    PANIC = "panic"
    DURESS = "duress"
    SESSION_START = "session_start"
    SESSION_EXTEND = "session_extend"
    SESSION_END = "session_end"
    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    PREALERT_ACK = "prealert_ack"
    SIGNAL_REPORT = "signal_report"


# Kinds that carry the session length in minutes.
KINDS_WITH_MINUTES = frozenset({EventKind.SESSION_START, EventKind.SESSION_EXTEND})
# Only alarms may carry a location: a worker is not tracked at any other time.
KINDS_WITH_LOCATION = frozenset({EventKind.PANIC, EventKind.DURESS})


class Link(StrEnum):
    MQTT = "mqtt"
    SMS = "sms"


class AckStatus(StrEnum):
    RECEIVED = "received"
    HELP_COMING = "help_coming"
    RESOLVED = "resolved"


class CommandOp(StrEnum):
    PREALERT = "prealert"
    CONFIG = "config"
    PING = "ping"
    LED_TEST = "led_test"


class DeviceState(StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


def new_event_id() -> str:
    return str(uuid.uuid4())


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float
    accuracy_m: float | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"lat": self.lat, "lon": self.lon}
        if self.accuracy_m is not None:
            out["acc"] = self.accuracy_m
        return out

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Location:
        r = Reader(obj, "event.location")
        lat = r.number("lat", minimum=-90, maximum=90)
        lon = r.number("lon", minimum=-180, maximum=180)
        acc = r.number("acc", minimum=0, maximum=100_000, required=False)
        r.finish()
        return cls(lat, lon, acc)


@dataclass(frozen=True)
class Event:
    """Something a worker did on a device: ``dev/{id}/event``, QoS 1, never retained."""

    id: str
    kind: EventKind
    ts: int
    seq: int
    link: Link = Link.MQTT
    minutes: int | None = None
    location: Location | None = None

    def __post_init__(self) -> None:
        # The decoder's checks guard construction too, so an invalid Event cannot exist.
        _read_event(self.to_json())

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "v": 1,
            "id": self.id,
            "kind": str(self.kind),
            "ts": self.ts,
            "seq": self.seq,
            "link": str(self.link),
        }
        if self.minutes is not None:
            out["minutes"] = self.minutes
        if self.location is not None:
            out["location"] = self.location.to_json()
        return out

    def encode(self) -> bytes:
        return dump_object(self.to_json())

    @classmethod
    def decode(cls, payload: bytes | bytearray) -> Event:
        return cls.from_json(load_object(payload, "event"))

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Event:
        # _read_event has checked every field: build without checking them all again in
        # __post_init__ (decoding is on the hub's hot path; see bench/ingest).
        event = object.__new__(cls)
        for name, value in _read_event(obj).items():
            object.__setattr__(event, name, value)
        return event


def _read_event(obj: dict[str, Any]) -> dict[str, Any]:
    r = Reader(obj, "event")
    r.version()
    kind = EventKind(r.choice("kind", EventKind))
    values: dict[str, Any] = {
        "id": r.text("id", max_length=36, pattern=EVENT_ID_PATTERN),
        "kind": kind,
        "ts": r.integer("ts", minimum=0, maximum=MAX_TS_MS),
        "seq": r.integer("seq", minimum=0, maximum=MAX_SEQ),
        "link": Link(r.choice("link", Link)),
        "minutes": r.integer(
            "minutes",
            minimum=1,
            maximum=MAX_SESSION_MINUTES,
            required=kind == EventKind.SESSION_START,
        ),
    }
    if values["minutes"] is not None and kind not in KINDS_WITH_MINUTES:
        raise r.error("minutes", f"is not allowed on a {kind} event")
    location = r.mapping("location", required=False)
    if location is not None and kind not in KINDS_WITH_LOCATION:
        raise r.error("location", f"is not allowed on a {kind} event")
    r.finish()
    values["location"] = Location.from_json(location) if location is not None else None
    return values


@dataclass(frozen=True)
class Status:
    """A device's retained presence: ``dev/{id}/status``. The last will is the offline form."""

    state: DeviceState
    boot: int
    fw: str | None = None
    ts: int | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": str(self.state), "boot": self.boot}
        for name in ("fw", "ts", "reason"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out

    def encode(self) -> bytes:
        return dump_object(self.to_json())

    @classmethod
    def decode(cls, payload: bytes | bytearray) -> Status:
        r = Reader(load_object(payload, "status"), "status")
        state = DeviceState(r.choice("state", DeviceState))
        boot = r.integer("boot", minimum=0, maximum=MAX_SEQ)
        fw = r.text("fw", max_length=FW_MAX_LENGTH, required=state == DeviceState.ONLINE)
        ts = r.integer("ts", minimum=0, maximum=MAX_TS_MS, required=state == DeviceState.ONLINE)
        reason = r.text("reason", max_length=REASON_MAX_LENGTH, required=False)
        r.finish()
        return cls(state, boot, fw, ts, reason)


@dataclass(frozen=True)
class Heartbeat:
    """Liveness and health, QoS 0: ``dev/{id}/heartbeat``."""

    ts: int
    uptime: float
    rssi: int | None = None
    battery: int | None = None
    queued: int = 0
    registered: bool | None = None
    modem: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "ts": self.ts,
            "uptime": self.uptime,
            "rssi": self.rssi,
            "battery": self.battery,
            "queued": self.queued,
        }
        if self.registered is not None:
            out["registered"] = self.registered
        if self.modem is not None:
            out["modem"] = self.modem
        return out

    def encode(self) -> bytes:
        return dump_object(self.to_json())

    @classmethod
    def decode(cls, payload: bytes | bytearray) -> Heartbeat:
        r = Reader(load_object(payload, "heartbeat"), "heartbeat")
        ts = r.integer("ts", minimum=0, maximum=MAX_TS_MS)
        uptime = r.number("uptime", minimum=0, maximum=10 * 365 * 86400)
        rssi = r.integer("rssi", minimum=-150, maximum=0, required=False)
        battery = r.integer("battery", minimum=0, maximum=100, required=False)
        queued = r.integer("queued", minimum=0, maximum=MAX_SEQ)
        registered = r.flag("registered", required=False)
        modem = r.choice("modem", ("ok", "recovering", "failed", "absent"), required=False)
        r.finish()
        return cls(ts, uptime, rssi, battery, queued, registered, modem)


@dataclass(frozen=True)
class Ack:
    """The hub's receipt for one event id, sent only after the event is durably stored."""

    ref: str
    status: AckStatus = AckStatus.RECEIVED

    def to_json(self) -> dict[str, Any]:
        return {"v": 1, "ref": self.ref, "status": str(self.status)}

    def encode(self) -> bytes:
        return dump_object(self.to_json())

    @classmethod
    def decode(cls, payload: bytes | bytearray) -> Ack:
        r = Reader(load_object(payload, "ack"), "ack")
        r.version()
        ref = r.text("ref", max_length=36, pattern=EVENT_ID_PATTERN)
        status = AckStatus(r.choice("status", AckStatus))
        r.finish()
        return cls(ref, status)


@dataclass(frozen=True)
class Command:
    """An instruction from the hub to one device: ``dev/{id}/cmd``."""

    id: str
    op: CommandOp
    due_ts: int | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"v": 1, "id": self.id, "op": str(self.op)}
        if self.due_ts is not None:
            out["due_ts"] = self.due_ts
        if self.settings or self.op == CommandOp.CONFIG:  # config requires it, even empty
            out["settings"] = self.settings
        return out

    def encode(self) -> bytes:
        return dump_object(self.to_json())

    @classmethod
    def decode(cls, payload: bytes | bytearray) -> Command:
        r = Reader(load_object(payload, "cmd"), "cmd")
        r.version()
        command_id = r.text("id", max_length=36, pattern=EVENT_ID_PATTERN)
        op = CommandOp(r.choice("op", CommandOp))
        due_ts = r.integer("due_ts", minimum=0, maximum=MAX_TS_MS, required=False)
        settings = r.mapping("settings", required=op == CommandOp.CONFIG)
        if settings is not None and op != CommandOp.CONFIG:
            raise r.error("settings", f"is not allowed on a {op} command")
        r.finish()
        return cls(command_id, op, due_ts, settings or {})


@dataclass(frozen=True)
class HubStatus:
    """The hub's retained presence: ``hub/status``; its last will is ``offline``."""

    state: DeviceState
    ts: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"state": str(self.state)}
        if self.ts is not None:
            out["ts"] = self.ts
        return out

    def encode(self) -> bytes:
        return dump_object(self.to_json())

    @classmethod
    def decode(cls, payload: bytes | bytearray) -> HubStatus:
        r = Reader(load_object(payload, "hub_status"), "hub_status")
        state = DeviceState(r.choice("state", DeviceState))
        ts = r.integer("ts", minimum=0, maximum=MAX_TS_MS, required=False)
        r.finish()
        return cls(state, ts)
