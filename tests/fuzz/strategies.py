"""Hypothesis strategies for the wire contract: valid messages, near-misses and junk.

``payloads(valid)`` mixes three sources so that every run covers both sides of each check:
a valid message; a valid message with one mutation (a field dropped, a value replaced by any
JSON value, an unknown field, the JSON reformatted); and arbitrary JSON or raw bytes.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

from loneguard.protocol.fields import MAX_TS_MS
from loneguard.protocol.messages import (
    KINDS_WITH_LOCATION,
    KINDS_WITH_MINUTES,
    MAX_SEQ,
    MAX_SESSION_MINUTES,
    AckStatus,
    CommandOp,
    DeviceState,
    EventKind,
    Link,
)
from loneguard.protocol.topics import PREFIX, Channel

HEX = "0123456789abcdef"
ULID = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

uuids = st.uuids().map(str)
ulids = st.text(ULID, min_size=26, max_size=26)
event_ids = st.one_of(uuids, ulids)
timestamps = st.integers(0, MAX_TS_MS)
device_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_-]{0,20}", fullmatch=True)
short_text = st.text(min_size=1, max_size=30)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)


@st.composite
def event_dicts(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(list(EventKind)))
    out: dict[str, Any] = {
        "v": 1,
        "id": draw(event_ids),
        "kind": str(kind),
        "ts": draw(timestamps),
        "seq": draw(st.integers(0, MAX_SEQ)),
        "link": str(draw(st.sampled_from(list(Link)))),
    }
    if kind in KINDS_WITH_MINUTES and (kind == EventKind.SESSION_START or draw(st.booleans())):
        out["minutes"] = draw(st.integers(1, MAX_SESSION_MINUTES))
    if kind in KINDS_WITH_LOCATION and draw(st.booleans()):
        location: dict[str, Any] = {
            "lat": draw(st.floats(-90, 90)),
            "lon": draw(st.floats(-180, 180)),
        }
        if draw(st.booleans()):
            location["acc"] = draw(st.floats(0, 100_000))
        out["location"] = location
    return out


@st.composite
def status_dicts(draw: st.DrawFn) -> dict[str, Any]:
    state = draw(st.sampled_from(list(DeviceState)))
    out: dict[str, Any] = {"state": str(state), "boot": draw(st.integers(0, MAX_SEQ))}
    if state == DeviceState.ONLINE or draw(st.booleans()):
        out["fw"] = draw(st.text(min_size=1, max_size=32))
        out["ts"] = draw(timestamps)
    if draw(st.booleans()):
        out["reason"] = draw(st.text(min_size=1, max_size=200))
    return out


heartbeat_dicts = st.fixed_dictionaries(
    {
        "ts": timestamps,
        "uptime": st.floats(0, 10 * 365 * 86400),
        "queued": st.integers(0, MAX_SEQ),
    },
    optional={
        "rssi": st.one_of(st.none(), st.integers(-150, 0)),
        "battery": st.one_of(st.none(), st.integers(0, 100)),
        "registered": st.booleans(),
        "modem": st.sampled_from(["ok", "recovering", "failed", "absent"]),
    },
)
ack_dicts = st.fixed_dictionaries(
    {"v": st.just(1), "ref": event_ids, "status": st.sampled_from([str(s) for s in AckStatus])}
)


@st.composite
def command_dicts(draw: st.DrawFn) -> dict[str, Any]:
    op = draw(st.sampled_from(list(CommandOp)))
    out: dict[str, Any] = {"v": 1, "id": draw(event_ids), "op": str(op)}
    if draw(st.booleans()):
        out["due_ts"] = draw(timestamps)
    if op == CommandOp.CONFIG:
        out["settings"] = draw(st.dictionaries(st.text(max_size=10), json_scalars, max_size=3))
    return out


hub_status_dicts = st.fixed_dictionaries(
    {"state": st.sampled_from([str(s) for s in DeviceState])}, optional={"ts": timestamps}
)


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[dict[str, Any]]) -> dict[str, Any]:
    """A valid message with one thing wrong (or, by chance, still right)."""
    obj = dict(draw(valid))
    how = draw(st.sampled_from(["drop", "replace", "add", "nest"]))
    keys = sorted(obj)
    if how == "drop" and keys:
        del obj[draw(st.sampled_from(keys))]
    elif how == "replace" and keys:
        obj[draw(st.sampled_from(keys))] = draw(json_values)
    elif how == "add":
        obj[draw(st.text(max_size=12))] = draw(json_values)
    elif keys:
        obj[draw(st.sampled_from(keys))] = {"deep": draw(json_values)}
    return obj


def encoded(obj: st.SearchStrategy[Any]) -> st.SearchStrategy[bytes]:
    """JSON text, compact or spaced, ASCII-escaped or not."""
    return st.tuples(obj, st.booleans(), st.booleans()).map(
        lambda t: json.dumps(t[0], ensure_ascii=t[1], indent=2 if t[2] else None).encode()
    )


def payloads(valid: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[bytes]:
    return st.one_of(
        encoded(valid),
        encoded(mutated(valid)),
        encoded(json_values),
        st.binary(max_size=300),
        st.binary(min_size=4000, max_size=4200),  # around the size limit
    )


CHANNELS = [c.value for c in Channel]
topics = st.one_of(
    st.tuples(device_ids, st.sampled_from(CHANNELS)).map(lambda t: f"{PREFIX}/dev/{t[0]}/{t[1]}"),
    st.tuples(st.text(max_size=30), st.text(max_size=10)).map(
        lambda t: f"{PREFIX}/dev/{t[0]}/{t[1]}"
    ),
    st.text(max_size=80),
)
