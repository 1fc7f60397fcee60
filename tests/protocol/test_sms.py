import pytest
from hypothesis import given
from hypothesis import strategies as st

from loneguard.protocol.errors import ProtocolError
from loneguard.protocol.fields import MAX_TS_MS
from loneguard.protocol.messages import EventKind, Link, new_event_id
from loneguard.protocol.sms import FallbackLine

SECRET = b"device-secret"


def test_line_format_matches_the_contract() -> None:
    line = FallbackLine(
        "dev-001", EventKind.PANIC, "0" * 8 + "-0000-4000-8000-" + "0" * 12, 1700000000000
    )
    text = line.encode(SECRET)
    parts = text.split(" ")
    assert parts[:5] == ["LG1", "dev-001", "PANIC", line.event_id, "1700000000000"]
    assert len(parts[5]) == 8


@given(
    st.sampled_from([k for k in EventKind if k != EventKind.SESSION_START]),
    st.integers(0, MAX_TS_MS),
)
def test_round_trip_and_verify(kind: EventKind, ts: int) -> None:
    line = FallbackLine("dev-7", kind, new_event_id(), ts)
    parsed, mac = FallbackLine.parse_unverified(line.encode(SECRET))
    assert parsed == line
    parsed.verify(mac, SECRET)
    event = parsed.to_event()
    assert event.link == Link.SMS and event.id == line.event_id


def test_wrong_secret_is_rejected() -> None:
    text = FallbackLine("dev-1", EventKind.DURESS, new_event_id(), 5).encode(SECRET)
    parsed, mac = FallbackLine.parse_unverified(text)
    with pytest.raises(ProtocolError, match=r"sms.hmac"):
        parsed.verify(mac, b"other")


@pytest.mark.parametrize(
    "text, field",
    [
        ("hello", "sms"),
        ("ACK 12", "sms"),
        (f"LG1 dev-1 DANCE {new_event_id()} 5 0123abcd", "sms.kind"),
        (f"LG1 dev-1 panic {new_event_id()} 5 0123abcd", "sms.kind"),
        ("LG1 dev-1 PANIC nope 5 0123abcd", "sms.event_id"),
        (f"LG1 dev-1 PANIC {new_event_id()} soon 0123abcd", "sms.ts"),
        (f"LG1 dev-1 PANIC {new_event_id()} 5 XYZ", "sms.hmac"),
        (f"LG1 d/1 PANIC {new_event_id()} 5 0123abcd", "sms.device_id"),
    ],
)
def test_malformed_lines_name_the_field(text: str, field: str) -> None:
    with pytest.raises(ProtocolError) as info:
        FallbackLine.parse_unverified(text)
    assert info.value.field == field
