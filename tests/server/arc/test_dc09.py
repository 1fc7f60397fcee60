"""DC-09 frames as pysiaalarm reads them (``SIAEvent.from_line``, the parser its receiver runs),
the answers it makes read back, and every malformed input refused with a reason. No network."""

from __future__ import annotations

import time

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pysiaalarm import SIAAccount, SIAEvent
from pysiaalarm.event import NAKEvent

from loneguard.server.arc import contact_id
from loneguard.server.arc.contact_id import ContactIdEvent
from loneguard.server.arc.dc09 import (
    Account,
    ArcKey,
    Dc09Answer,
    Dc09Error,
    Dc09Frame,
    Location,
    crc16,
    parse_answer,
    parse_timestamp,
    timestamp_text,
    wrap,
)

ACCOUNT = Account("aaa123")
PANIC = contact_id.for_alarm("panic", zone=15, group=1)
# 2026-01-01 00:00:05 UTC
WALL_MS = 1_767_225_605_000
KEYS = {
    128: ArcKey.from_characters("loneguard-arc-16"),
    192: ArcKey.from_characters("loneguard-arc-key-is-24c"),
    256: ArcKey.from_characters("loneguard-arc-key-is-32-chars-ok"),
}


def read(raw: bytes, key: ArcKey | None, account: str = "AAA123") -> SIAEvent:
    """pysiaalarm's receiver strips LF and CR, then parses the line."""
    sia = SIAAccount(account, key.secret.decode() if key else None, allowed_timeband=None)
    return SIAEvent.from_line(raw.decode("ascii").strip(), {account: sia})


def test_the_crc_is_crc16_arc() -> None:
    # CRC-16/ARC's published check value: poly 0x8005 reflected, init 0, over "123456789".
    assert crc16(b"123456789") == 0xBB3D
    assert crc16(b"") == 0


@given(st.binary(max_size=200))
def test_the_crc_agrees_with_pysiaalarms(data: bytes) -> None:
    text = data.decode("latin-1")
    assert f"{crc16(text.encode('utf-8')):04X}" == SIAEvent._crc_calc(text)  # noqa: SLF001


def test_a_plain_frame_is_the_standards_line() -> None:
    frame = Dc09Frame.adm_cid(42, ACCOUNT, PANIC, receiver="1A", line="2")
    raw = frame.encode(wall_ms=WALL_MS, key=None)
    body = '"ADM-CID"0042R1AL2#AAA123[#AAA123|1120 01 015]_00:00:05,01-01-2026'
    assert (
        raw == b"\n" + f"{crc16(body.encode()):04X}{len(body):04X}".encode() + body.encode() + b"\r"
    )


def test_pysiaalarm_reads_a_plain_frame() -> None:
    raw = Dc09Frame.adm_cid(42, ACCOUNT, PANIC, receiver="1").encode(wall_ms=WALL_MS, key=None)
    event = read(raw, None)
    assert event.valid_message  # its CRC of the body equals ours
    # The length in hex (DC-09's 0LLL; pysiaalarm's answers count the same way). Its
    # ``valid_length`` reads the field as decimal against the hex of the decimal count, which
    # no frame of the standard's satisfies; its receiver does not act on it.
    assert int(event.length, 16) == len(event.full_message)  # type: ignore[arg-type]
    assert (event.encrypted, event.account, event.sequence, event.receiver, event.line) == (
        False,
        "AAA123",
        "0042",
        "R1",
        "L0",
    )
    assert (event.event_qualifier, event.event_type, event.partition, event.ri, event.code) == (
        "1",
        "120",
        "01",
        "015",
        "PA",
    )
    assert event.timestamp is not None
    assert int(event.timestamp.timestamp() * 1000) == WALL_MS  # type: ignore[union-attr]


@pytest.mark.parametrize("bits", [128, 192, 256])
def test_pysiaalarm_decrypts_and_reads_an_encrypted_frame(bits: int) -> None:
    key = KEYS[bits]
    restoral = contact_id.for_alarm("duress", zone=7, group=2, restore=True)
    raw = Dc09Frame.adm_cid(9999, ACCOUNT, restoral).encode(wall_ms=WALL_MS, key=key)
    assert raw.startswith(b"\n") and b'"*ADM-CID"9999L0#AAA123[' in raw
    assert b"1121" not in raw  # the event is only in the cipher text
    event = read(raw, key)
    assert event.valid_message
    assert int(event.length, 16) == len(event.full_message)  # type: ignore[arg-type]
    assert (event.encrypted, event.account, event.sequence) == (True, "AAA123", "9999")
    assert (event.event_qualifier, event.event_type, event.partition, event.ri, event.code) == (
        "3",
        "121",
        "02",
        "007",
        "HH",
    )
    assert int(event.timestamp.timestamp() * 1000) == WALL_MS  # type: ignore[union-attr]


def test_the_encrypted_block_is_pad_bar_data_timestamp() -> None:
    key = KEYS[128]
    raw = Dc09Frame.adm_cid(1, ACCOUNT, PANIC).encode(
        wall_ms=WALL_MS, key=key, pad=lambda n: "x" * n
    )
    cipher = bytes.fromhex(raw.decode().strip().split("[", 1)[1])
    plain = key.decrypt(cipher).decode()
    assert len(plain) % 16 == 0
    assert plain.lstrip("x") == "|#AAA123|1120 01 015]_00:00:05,01-01-2026"


def test_pad_characters_are_random_and_never_separators() -> None:
    key = KEYS[128]
    frame = Dc09Frame.adm_cid(1, ACCOUNT, PANIC)
    first, second = (frame.encode(wall_ms=WALL_MS, key=key) for _ in range(2))
    assert first != second  # same message, same time: only the pad differs
    with pytest.raises(Dc09Error, match="pad"):
        frame.encode(wall_ms=WALL_MS, key=key, pad=lambda n: "|" * n)


def test_the_null_link_test_reads_as_pysiaalarms_automatic_test() -> None:
    for key in (None, KEYS[256]):
        event = read(Dc09Frame.null(3, ACCOUNT).encode(wall_ms=WALL_MS, key=key), key)
        assert (event.valid_message, event.code, event.sequence) == (True, "RP", "0003")


def test_location_is_longitude_then_latitude_extended_data() -> None:
    frame = Dc09Frame.adm_cid(1, ACCOUNT, PANIC, location=Location(51.501364, -0.14189))
    raw = frame.encode(wall_ms=WALL_MS, key=None)
    assert b"1120 01 015][X-0.141890][Y51.501364]_00:00:05" in raw


def test_pysiaalarm_cannot_read_two_extended_data_fields_in_an_adm_cid_frame() -> None:
    """A limit of the receiver library, kept visible: its ADM-CID pattern allows one [x-data]
    field; DC-09 allows several. Its receiver NAKs such a frame, so location stays off unless
    the ARC confirms its receiver reads X and Y (docs/arc.md)."""
    frame = Dc09Frame.adm_cid(1, ACCOUNT, PANIC, location=Location(51.5, -0.14))
    with pytest.raises(Exception, match="no matches found"):
        read(frame.encode(wall_ms=WALL_MS, key=None), None)


def test_answers_pysiaalarm_makes_are_read() -> None:
    for key in (None, KEYS[128], KEYS[192], KEYS[256]):
        frame = Dc09Frame.adm_cid(42, ACCOUNT, PANIC, receiver="1")
        now_ms = int(time.time() * 1000)
        event = read(frame.encode(wall_ms=now_ms, key=key), key)
        answer = parse_answer(event.create_response(), key=key).check_for(frame)
        assert (answer.kind, answer.sequence, answer.account, answer.encrypted) == (
            "ACK",
            42,
            "AAA123",
            key is not None,
        )
        if key is not None:  # an encrypted ACK carries the receiver's time
            assert answer.receiver_time_ms is not None
            assert abs(answer.receiver_time_ms - now_ms) < 5_000


def test_a_nak_carries_the_receivers_time() -> None:
    answer = parse_answer(NAKEvent().create_response(), key=None)
    assert (answer.kind, answer.sequence) == ("NAK", 0)
    assert answer.receiver_time_ms is not None
    assert abs(answer.receiver_time_ms - time.time() * 1000) < 5_000
    # A NAK answers whatever was sent: it has sequence 0000 and no account.
    assert answer.check_for(Dc09Frame.null(5, ACCOUNT)) is answer


def test_a_duh_is_read() -> None:
    answer = parse_answer(wrap('"DUH"0042R1L0#AAA123[]'), key=None)
    assert answer == Dc09Answer("DUH", 42, account="AAA123", receiver="1", line="0")


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "starts with LF"),
        (b'"ACK"0001L0#AAA123[]', "starts with LF"),
        (b"\n\r", "at least 8"),
        (b'\nZZZZ0014"ACK"0001L0#AAA123[]\r', "hex digits"),
        (wrap('"ACK"0001L0#AAA123[]').replace(b"0014", b"0015"), "length field says 21"),
        (wrap('"ACK"0001L0#AAA123[]').replace(b"0001L0", b"0002L0"), "CRC"),
        (wrap('"HELLO"0001L0#AAA123[]'), "not a DC-09 answer"),
        (wrap('"ACK"01L0#AAA123[]'), "not a DC-09 answer"),
        (wrap('"ACK"0001L0#AAA123[garbage'), "content is not"),
        (wrap('"RSP"0001L0#AAA123[]'), "RSP"),
        (wrap('"*ACK"0001L0#AAA123[00112233445566778899AABBCCDDEEFF'), "no arc.key"),
        (wrap('"ACK"0001L0#AAA123[]_25:00:00,01-01-2026'), "HH:MM:SS,MM-DD-YYYY"),
        (b"\n" + b"\xff" * 12 + b"\r", "ASCII"),
    ],
)
def test_malformed_answers_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(Dc09Error, match=reason):
        parse_answer(raw, key=None)


def test_an_encrypted_ack_under_another_key_is_refused() -> None:
    frame = Dc09Frame.adm_cid(42, ACCOUNT, PANIC)
    event = read(frame.encode(wall_ms=int(time.time() * 1000), key=KEYS[128]), KEYS[128])
    with pytest.raises(Dc09Error, match=r"(does not decrypt|content is not)"):
        parse_answer(event.create_response(), key=KEYS[256])


def test_an_ack_for_another_message_does_not_count() -> None:
    frame = Dc09Frame.adm_cid(42, ACCOUNT, PANIC)
    with pytest.raises(Dc09Error, match="sequence 0041, sent 0042"):
        parse_answer(wrap('"ACK"0041L0#AAA123[]'), key=None).check_for(frame)
    with pytest.raises(Dc09Error, match="another account"):
        parse_answer(wrap('"ACK"0042L0#BBB123[]'), key=None).check_for(frame)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "32, 48 or 64 hex digits.*it has 0 characters"),
        ("00" * 15, "it has 30 characters"),
        ("zz" * 16, "hex digits only"),
    ],
)
def test_a_bad_key_names_the_setting_and_never_echoes_it(text: str, reason: str) -> None:
    with pytest.raises(Dc09Error, match=reason) as caught:
        ArcKey.from_hex(text)
    assert str(caught.value).startswith("arc.key ")
    if text:
        assert text not in str(caught.value)


def test_a_key_reads_from_hex_and_never_shows_in_repr() -> None:
    key = ArcKey.from_hex("00112233445566778899aabbccddeeff" * 2)
    assert key.bits == 256
    assert "0011" not in repr(key) and "secret" not in repr(key)
    assert ArcKey.from_hex(KEYS[192].hex_digits()) == KEYS[192]
    assert ArcKey.from_characters("ABCDEFGHIJKLMNOP").hex_digits() == (
        "4142434445464748494A4B4C4D4E4F50"
    )


@pytest.mark.parametrize("text", ["12", "12345678901234567", "12G4", ""])
def test_a_bad_account_names_the_setting(text: str) -> None:
    with pytest.raises(Dc09Error, match=r"^arc\.account: an account is 3-16 hex digits"):
        Account.parse(text)


def test_frames_refuse_what_the_standard_does_not_allow() -> None:
    with pytest.raises(Dc09Error, match="sequence number must be 1-9999"):
        Dc09Frame.null(0, ACCOUNT)
    with pytest.raises(Dc09Error, match="sequence number must be 1-9999"):
        Dc09Frame.null(10_000, ACCOUNT)
    with pytest.raises(Dc09Error, match="line number is 1-6 hex digits"):
        Dc09Frame.null(1, ACCOUNT, line="1234567")
    with pytest.raises(Dc09Error, match="receiver number is 1-6 hex digits"):
        Dc09Frame.null(1, ACCOUNT, receiver="R1")
    with pytest.raises(Dc09Error, match="carries a Contact ID event"):
        Dc09Frame("ADM-CID", 1, ACCOUNT)
    with pytest.raises(Dc09Error, match="latitude"):
        Location(91.0, 0.0)
    with pytest.raises(Dc09Error, match="longitude"):
        Location(0.0, -180.5)


@given(st.integers(min_value=0, max_value=253_402_300_799_000 // 1000))
def test_timestamps_round_trip(seconds: int) -> None:
    assert parse_timestamp(timestamp_text(seconds * 1000)) == seconds * 1000


@given(
    account=st.text("0123456789ABCDEF", min_size=3, max_size=16),
    sequence=st.integers(1, 9999),
    qualifier=st.sampled_from([1, 3]),
    code=st.sampled_from([120, 121, 102, 381, 384, 602]),
    group=st.integers(0, 99),
    zone=st.integers(0, 999),
    bits=st.sampled_from([None, 128, 192, 256]),
    seconds=st.integers(0, 4_102_444_799),
)
def test_pysiaalarm_reads_back_every_field_of_any_frame(
    account: str,
    sequence: int,
    qualifier: int,
    code: int,
    group: int,
    zone: int,
    bits: int | None,
    seconds: int,
) -> None:
    key = KEYS[bits] if bits is not None else None
    frame = Dc09Frame.adm_cid(
        sequence, Account(account), ContactIdEvent(qualifier, code, group, zone)
    )
    event = read(frame.encode(wall_ms=seconds * 1000, key=key), key, account)
    assert event.valid_message
    assert (event.account, event.sequence, event.encrypted) == (
        account,
        f"{sequence:04d}",
        bool(key),
    )
    assert (event.event_qualifier, event.event_type, event.partition, event.ri) == (
        str(qualifier),
        f"{code:03d}",
        f"{group:02d}",
        f"{zone:03d}",
    )
    assert int(event.timestamp.timestamp()) == seconds  # type: ignore[union-attr]
