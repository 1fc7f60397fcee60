import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loneguard.protocol.errors import ProtocolError
from loneguard.protocol.fields import MAX_PAYLOAD_BYTES, MAX_TS_MS
from loneguard.protocol.messages import (
    KINDS_WITH_LOCATION,
    Ack,
    AckStatus,
    Command,
    CommandOp,
    DeviceState,
    Event,
    EventKind,
    Heartbeat,
    HubStatus,
    Link,
    Location,
    Status,
    new_event_id,
)

ts_ms = st.integers(min_value=0, max_value=MAX_TS_MS)
event_ids = st.one_of(st.uuids().map(str), st.from_regex(r"[0-9A-HJKMNP-TV-Z]{26}", fullmatch=True))
locations = st.builds(
    Location,
    st.floats(min_value=-90, max_value=90),
    st.floats(min_value=-180, max_value=180),
    st.one_of(st.none(), st.floats(min_value=0, max_value=100_000)),
)


@st.composite
def events(draw: st.DrawFn) -> Event:
    kind = draw(st.sampled_from(list(EventKind)))
    minutes = None
    if kind == EventKind.SESSION_START:
        minutes = draw(st.integers(1, 1440))
    elif kind == EventKind.SESSION_EXTEND:
        minutes = draw(st.one_of(st.none(), st.integers(1, 1440)))
    location = draw(st.one_of(st.none(), locations)) if kind in KINDS_WITH_LOCATION else None
    return Event(
        id=draw(event_ids),
        kind=kind,
        ts=draw(ts_ms),
        seq=draw(st.integers(0, 2**53 - 1)),
        link=draw(st.sampled_from(list(Link))),
        minutes=minutes,
        location=location,
    )


@given(events())
def test_event_round_trips(event: Event) -> None:
    assert Event.decode(event.encode()) == event


@given(
    st.builds(
        Status,
        st.just(DeviceState.ONLINE),
        st.integers(0, 2**40),
        st.text(min_size=1, max_size=32),
        ts_ms,
    )
)
def test_status_round_trips(status: Status) -> None:
    assert Status.decode(status.encode()) == status


def test_last_will_needs_only_state_and_boot() -> None:
    assert Status.decode(b'{"state":"offline","boot":7}') == Status(DeviceState.OFFLINE, 7)


@given(
    st.builds(
        Heartbeat,
        ts_ms,
        st.floats(min_value=0, max_value=1e8),
        st.one_of(st.none(), st.integers(-150, 0)),
        st.one_of(st.none(), st.integers(0, 100)),
        st.integers(0, 10**6),
    )
)
def test_heartbeat_round_trips(heartbeat: Heartbeat) -> None:
    assert Heartbeat.decode(heartbeat.encode()) == heartbeat


@given(event_ids, st.sampled_from(list(AckStatus)))
def test_ack_round_trips(ref: str, status: AckStatus) -> None:
    assert Ack.decode(Ack(ref, status).encode()) == Ack(ref, status)


def test_command_and_hub_status_round_trip() -> None:
    prealert = Command(new_event_id(), CommandOp.PREALERT, due_ts=123)
    assert Command.decode(prealert.encode()) == prealert
    config = Command(new_event_id(), CommandOp.CONFIG, settings={"hold_time": 2.5})
    assert Command.decode(config.encode()) == config
    status = HubStatus(DeviceState.ONLINE, 5)
    assert HubStatus.decode(status.encode()) == status


def valid_event(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "v": 1,
        "id": new_event_id(),
        "kind": "checkin",
        "ts": 1,
        "seq": 0,
        "link": "mqtt",
    }
    body.update(changes)
    return {k: v for k, v in body.items() if v is not ...}


@pytest.mark.parametrize(
    "changes, field, problem",
    [
        ({"kind": "dance"}, "event.kind", "must be one of"),
        ({"kind": ...}, "event.kind", "is required"),
        ({"ts": "now"}, "event.ts", "must be an integer, got string"),
        ({"ts": True}, "event.ts", "must be an integer, got boolean"),
        ({"ts": -1}, "event.ts", "between"),
        ({"ts": 1.5}, "event.ts", "must be an integer, got number"),
        ({"id": "not-an-id"}, "event.id", "wrong format"),
        ({"id": ...}, "event.id", "is required"),
        ({"v": 2}, "event.v", "unsupported version"),
        ({"link": "pigeon"}, "event.link", "must be one of"),
        ({"extra": 1}, "event.extra", "not a known field"),
        ({"kind": "session_start"}, "event.minutes", "is required"),
        ({"kind": "session_start", "minutes": 0}, "event.minutes", "between"),
        ({"minutes": 5}, "event.minutes", "not allowed on a checkin"),
        ({"location": {"lat": 1, "lon": 2}}, "event.location", "not allowed on a checkin"),
        ({"kind": "panic", "location": {"lat": 91, "lon": 2}}, "event.location.lat", "between"),
    ],
)
def test_event_rejections_name_the_field(changes: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(ProtocolError) as info:
        Event.decode(json.dumps(valid_event(**changes)).encode())
    assert info.value.field == field
    assert problem in info.value.problem


@pytest.mark.parametrize(
    "payload, problem",
    [
        (b"\xff\xfe", "not UTF-8"),
        (b"{", "not JSON"),
        (b"[1,2]", "must be a JSON object, got array"),
        (b'{"ts": NaN}', "not JSON"),
        (b" " * (MAX_PAYLOAD_BYTES + 1), "over the"),
    ],
)
def test_malformed_payloads(payload: bytes, problem: str) -> None:
    with pytest.raises(ProtocolError) as info:
        Event.decode(payload)
    assert info.value.field == "event.payload"
    assert problem in info.value.problem


def test_invalid_event_cannot_be_constructed() -> None:
    with pytest.raises(ProtocolError, match=r"event.ts"):
        Event(new_event_id(), EventKind.CHECKIN, ts=-5, seq=0)


def test_status_rejections() -> None:
    with pytest.raises(ProtocolError, match=r"status.fw: is required"):
        Status.decode(b'{"state":"online","boot":1,"ts":1}')
    with pytest.raises(ProtocolError, match=r"status.boot"):
        Status.decode(b'{"state":"offline","boot":-1}')


def test_heartbeat_rssi_bounds() -> None:
    with pytest.raises(ProtocolError, match=r"heartbeat.rssi"):
        Heartbeat.decode(b'{"ts":1,"uptime":1,"rssi":20,"battery":null,"queued":0}')


def test_settings_only_on_config_commands() -> None:
    with pytest.raises(ProtocolError, match=r"cmd.settings"):
        Command.decode(
            json.dumps({"v": 1, "id": new_event_id(), "op": "ping", "settings": {}}).encode()
        )


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_escape_as_another_error(payload: bytes) -> None:
    for message in (Event, Status, Heartbeat, Ack, Command, HubStatus):
        with contextlib.suppress(ProtocolError):
            message.decode(payload)  # type: ignore[attr-defined]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=500)
@given(
    st.dictionaries(
        st.sampled_from(["v", "id", "kind", "ts", "seq", "link", "minutes", "location", "x"]),
        json_values,
    )
)
def test_arbitrary_objects_are_accepted_or_rejected_cleanly(obj: dict[str, Any]) -> None:
    try:
        event = Event.decode(json.dumps(obj).encode())
    except ProtocolError:
        return
    assert Event.decode(event.encode()) == event


def test_an_event_stamped_on_an_unsynced_clock_says_so() -> None:
    stale = Event("0b7e4b1e-3f7a-4c7e-9d51-2f3c1a9e8b10", EventKind.CHECKIN, 1_600_000_000_000, 3)
    assert b"unsynced" not in stale.encode()  # the usual case costs nothing on the wire
    flagged = Event(stale.id, EventKind.CHECKIN, stale.ts, 3, unsynced=True)
    assert b'"unsynced":true' in flagged.encode()
    assert Event.decode(flagged.encode()) == flagged
    with pytest.raises(ProtocolError) as info:
        Event.decode(flagged.encode().replace(b"true", b"false"))
    assert info.value.field == "event.unsynced"
