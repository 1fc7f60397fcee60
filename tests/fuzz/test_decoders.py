"""Every decoder of the wire contract against valid messages, near-misses and junk.

The property: a decoder either returns a message that encodes and decodes back to itself, or
raises ``ProtocolError`` whose field names the message (``event.ts``, ``topic``, ``sms.kind``);
never any other exception, whatever the input. Each test checks how many inputs it really ran.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loneguard.protocol.errors import ProtocolError
from loneguard.protocol.messages import Ack, Command, Event, Heartbeat, HubStatus, Status
from loneguard.protocol.sms import MAGIC, FallbackLine
from loneguard.protocol.topics import DeviceTopic
from loneguard.server.sms.gateway import parse_ack
from tests.fuzz import strategies as s
from tests.fuzz.conftest import FUZZ, count

EXAMPLES = 1200

MESSAGES: list[tuple[str, Any, st.SearchStrategy[dict[str, Any]]]] = [
    ("event", Event, s.event_dicts()),
    ("status", Status, s.status_dicts()),
    ("heartbeat", Heartbeat, s.heartbeat_dicts),
    ("ack", Ack, s.ack_dicts),
    ("cmd", Command, s.command_dicts()),
    ("hub_status", HubStatus, s.hub_status_dicts),
]


def run_counted(name: str, body: Callable[[], None]) -> None:
    """Run a ``@given`` test and check it really tried ``EXAMPLES`` inputs."""
    before = _ran.get(name, 0)
    body()
    assert _ran.get(name, 0) - before >= EXAMPLES


_ran: dict[str, int] = {}


def _tick(name: str) -> None:
    _ran[name] = _ran.get(name, 0) + 1
    count("decoders")


@pytest.mark.parametrize(("name", "cls", "valid"), MESSAGES, ids=[m[0] for m in MESSAGES])
def test_message_decoders_accept_or_name_the_field(
    name: str, cls: Any, valid: st.SearchStrategy[dict[str, Any]]
) -> None:
    @settings(FUZZ, max_examples=EXAMPLES)
    @given(s.payloads(valid))
    def check(payload: bytes) -> None:
        _tick(name)
        try:
            message = cls.decode(payload)
        except ProtocolError as err:
            assert err.field.split(".")[0] == name, err.field
            assert str(err).startswith(f"{err.field}: ") and err.problem
            return
        assert cls.decode(message.encode()) == message

    run_counted(name, check)


def test_valid_messages_are_accepted() -> None:
    # The other side of the property: the "valid" strategies really are valid, so the fuzzing
    # above reaches the code behind the first check.
    @settings(FUZZ, max_examples=200)
    @given(st.sampled_from(MESSAGES).flatmap(lambda m: st.tuples(st.just(m[1]), s.encoded(m[2]))))
    def check(pair: tuple[Any, bytes]) -> None:
        cls, payload = pair
        cls.decode(payload)

    check()


def test_topic_parser_accepts_or_names_the_topic() -> None:
    @settings(FUZZ, max_examples=EXAMPLES)
    @given(s.topics)
    def check(topic: str) -> None:
        _tick("topic")
        try:
            parsed = DeviceTopic.parse(topic)
        except ProtocolError as err:
            assert err.field.split(".")[0] == "topic", err.field
            return
        assert str(parsed) == topic

    run_counted("topic", check)


@st.composite
def sms_lines(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["PANIC", "CHECKIN", "DURESS", "SESSION_START", "panic", "NOPE"]))
    fields = [
        MAGIC,
        draw(s.device_ids),
        kind,
        draw(s.event_ids),
        str(draw(s.timestamps)),
        draw(st.text(s.HEX, min_size=8, max_size=8)),
    ]
    if draw(st.booleans()):  # break one field
        fields[draw(st.integers(0, 5))] = draw(st.text(max_size=30))
    return " ".join(fields)


def test_fallback_sms_parser_accepts_or_names_the_field() -> None:
    @settings(FUZZ, max_examples=EXAMPLES)
    @given(st.one_of(sms_lines(), st.text(max_size=200)))
    def check(text: str) -> None:
        _tick("sms")
        try:
            line, mac = FallbackLine.parse_unverified(text)
        except ProtocolError as err:
            assert err.field.split(".")[0] == "sms", err.field
            return
        again, mac_again = FallbackLine.parse_unverified(f"{line.body()} {mac}")
        assert (again, mac_again) == (line, mac)
        with pytest.raises(ProtocolError, match=r"sms\.hmac"):
            line.verify("00000000" if mac != "00000000" else "11111111", b"secret")

    run_counted("sms", check)


def test_sms_ack_parser_never_raises() -> None:
    @settings(FUZZ, max_examples=EXAMPLES // 2)
    @given(st.one_of(st.from_regex(r"\s*[aA][cC][kK]\s*#?\s*\d{1,12}\s*[.!]?\s*"), st.text()))
    def check(text: str) -> None:
        _tick("sms_ack")
        alarm_id = parse_ack(text)
        assert alarm_id is None or 0 <= alarm_id < 10**9

    before = _ran.get("sms_ack", 0)
    check()
    assert _ran["sms_ack"] - before >= EXAMPLES // 2
