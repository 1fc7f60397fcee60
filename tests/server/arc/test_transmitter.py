"""The transmitter against pysiaalarm as the ARC's receivers: every code acked over TCP and UDP,
plain and encrypted; a NAK'd or unanswered message retried on the injected clock, then sent to
the backup; both receivers down: not acked, every attempt listed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest

from loneguard.protocol.clock import FakeClock
from loneguard.server.arc import contact_id
from loneguard.server.arc.contact_id import ContactIdEvent
from loneguard.server.arc.dc09 import Account, ArcKey, Dc09Frame, Location, wrap
from loneguard.server.arc.transmitter import (
    Attempt,
    ReceiverAddress,
    TransmitOutcome,
    Transmitter,
    TransportName,
)

from .sia_receiver import free_port, sia_account, sia_receiver

ACCOUNT = Account("AAA123")
KEY = ArcKey.from_characters("loneguard-arc-16")
OLD_KEY = ArcKey.from_characters("an-old-key-00016")
ACK_TIMEOUT_S = 10.0

# Every event the hub sends, with the SIA code pysiaalarm maps it to (its ADM_MAPPING has no
# 102 or 384: it reads them as YN, "invalid report", and still acks them).
EVENTS = [
    (contact_id.for_alarm("panic", zone=15, group=1), "PA"),
    (contact_id.for_alarm("panic", zone=15, group=1, restore=True), "PH"),
    (contact_id.for_alarm("duress", zone=16, group=1), "HA"),
    (contact_id.for_alarm("overdue", zone=17, group=2), "YN"),
    (contact_id.for_alarm("device_offline", zone=18, group=1), "YC"),
    (contact_id.for_alarm("device_offline", zone=18, group=1, restore=True), "YK"),
    (ContactIdEvent(contact_id.NEW_EVENT, contact_id.LOW_BATTERY, 1, 19), "YN"),
    (contact_id.periodic_test(group=1), "RP"),
]


def now_clock() -> FakeClock:
    """A fake clock set to the real wall time: pysiaalarm checks our timestamps against its
    own clock, which is the machine's."""
    return FakeClock(wall_ms=int(time.time() * 1000))


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(scenario(), 30))


@asynccontextmanager
async def transmitter(
    receivers: list[ReceiverAddress], clock: FakeClock, key: ArcKey | None, attempts: int = 3
) -> AsyncIterator[Transmitter]:
    sender = Transmitter(
        receivers, clock, key=key, ack_timeout_s=ACK_TIMEOUT_S, attempts_per_receiver=attempts
    )
    try:
        yield sender
    finally:
        await sender.close()


def outcomes(result: TransmitOutcome) -> list[tuple[str, str]]:
    return [(a.receiver, a.outcome) for a in result.attempts]


@pytest.mark.parametrize("transport", ["tcp", "udp"])
@pytest.mark.parametrize("key", [None, KEY], ids=["plain", "aes128"])
def test_every_code_arrives_acked_with_its_account_zone_and_group(
    transport: TransportName, key: ArcKey | None
) -> None:
    async def scenario() -> None:
        clock = now_clock()
        accounts = [sia_account("AAA123", key)]
        async with (
            sia_receiver("primary", accounts, transport) as arc,
            transmitter([arc.address], clock, key) as sender,
        ):
            results = []
            for sequence, (event, _) in enumerate(EVENTS, start=1):
                results.append(await sender.send(Dc09Frame.adm_cid(sequence, ACCOUNT, event)))
            received = await arc.wait_for(len(EVENTS))
        assert [(r.acked, r.receiver, len(r.attempts)) for r in results] == [
            (True, "primary", 1)
        ] * len(EVENTS)
        assert all(r.attempts[0].detail.startswith("ACK") for r in results)
        assert [
            (e.account, e.sequence, e.event_qualifier, e.event_type, e.partition, e.ri, e.code)
            for e in received
        ] == [
            (
                "AAA123",
                f"{n:04d}",
                str(event.qualifier),
                f"{event.code:03d}",
                f"{event.group:02d}",
                f"{event.zone:03d}",
                sia_code,
            )
            for n, (event, sia_code) in enumerate(EVENTS, start=1)
        ]
        assert all(e.encrypted == (key is not None) for e in received)

    run(scenario)


@pytest.mark.parametrize("bits", [192, 256])
def test_longer_keys_are_acked_encrypted(bits: int) -> None:
    key = ArcKey.from_characters("k" * (bits // 8))

    async def scenario() -> None:
        async with (
            sia_receiver("primary", [sia_account("AAA123", key)]) as arc,
            transmitter([arc.address], now_clock(), key) as sender,
        ):
            event = contact_id.for_alarm("duress", zone=7, group=1)
            result = await sender.send(Dc09Frame.adm_cid(9999, ACCOUNT, event))
            (received,) = await arc.wait_for(1)
        assert result.acked
        assert result.attempts[0].detail == "ACK (encrypted)"
        assert (received.encrypted, received.sequence, received.code, received.ri) == (
            True,
            "9999",
            "HA",
            "007",
        )

    run(scenario)


def test_the_null_link_test_is_acked() -> None:
    async def scenario() -> None:
        async with (
            sia_receiver("primary", [sia_account("AAA123", KEY)], "udp") as arc,
            transmitter([arc.address], now_clock(), KEY) as sender,
        ):
            result = await sender.send(Dc09Frame.null(12, ACCOUNT, receiver="1"))
            (received,) = await arc.wait_for(1)
        assert result.acked
        assert (received.message_type.value, received.code, received.sequence) == (  # type: ignore[union-attr]
            "NULL",
            "RP",
            "0012",
        )

    run(scenario)


def test_a_nak_is_retried_then_the_backup_acks() -> None:
    """The primary holds an old key for the account: it cannot read the message and NAKs each
    attempt; the same frame (same sequence number) then goes to the backup, which acks it."""

    async def scenario() -> None:
        clock = now_clock()
        heard: list[Attempt] = []
        async with (
            sia_receiver("primary", [sia_account("AAA123", OLD_KEY)]) as primary,
            sia_receiver("backup", [sia_account("AAA123", KEY)]) as backup,
            transmitter([primary.address, backup.address], clock, KEY) as sender,
        ):
            event = contact_id.for_alarm("panic", zone=3, group=1)
            result = await sender.send(
                Dc09Frame.adm_cid(77, ACCOUNT, event), on_attempt=heard.append
            )
            (received,) = await backup.wait_for(1)
        assert outcomes(result) == [("primary", "nak")] * 3 + [("backup", "ack")]
        assert heard == result.attempts
        assert (result.acked, result.receiver) == (True, "backup")
        assert result.attempts[0].detail.startswith("NAK (the receiver's clock is")
        assert primary.events == []
        assert (received.sequence, received.code, received.ri) == ("0077", "PA", "003")

    run(scenario)


def test_a_stale_timestamp_is_naked_with_the_receivers_time() -> None:
    """A hub whose clock is an hour slow: pysiaalarm NAKs the timestamp and says its time."""

    async def scenario() -> None:
        clock = FakeClock(wall_ms=int(time.time() * 1000) - 3_600_000)
        async with (
            sia_receiver("primary", [sia_account("AAA123", None)]) as arc,
            transmitter([arc.address], clock, None, attempts=1) as sender,
        ):
            event = contact_id.for_alarm("panic", zone=3, group=1)
            result = await sender.send(Dc09Frame.adm_cid(5, ACCOUNT, event))
        assert outcomes(result) == [("primary", "nak")]
        offset_s = int(result.attempts[0].detail.split("is ")[1].split("s ")[0])
        assert 3590 <= offset_s <= 3610
        assert arc.events == []

    run(scenario)


@asynccontextmanager
async def silent_tcp_receiver() -> AsyncIterator[tuple[ReceiverAddress, asyncio.Queue[bytes]]]:
    """Accepts, reads, never answers: a receiver that hangs."""
    received: asyncio.Queue[bytes] = asyncio.Queue()
    writers: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        while data := await reader.read(4096):
            await received.put(data)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield ReceiverAddress("primary", "127.0.0.1", port), received
    finally:
        for writer in writers:
            writer.close()
        server.close()
        await server.wait_closed()


def test_no_answer_times_out_on_the_injected_clock_is_retried_then_the_backup_acks() -> None:
    async def scenario() -> None:
        # Three time-outs move the fake clock 30 s: it starts 30 s behind the machine's, so the
        # backup (pysiaalarm, which checks our timestamp against its clock) sees a fresh one.
        clock = FakeClock(wall_ms=int(time.time() * 1000) - 3 * int(ACK_TIMEOUT_S * 1000))
        async with (
            silent_tcp_receiver() as (primary, received),
            sia_receiver("backup", [sia_account("AAA123", KEY)]) as backup,
            transmitter([primary, backup.address], clock, KEY) as sender,
        ):
            event = contact_id.for_alarm("overdue", zone=4, group=1)
            sending = asyncio.create_task(sender.send(Dc09Frame.adm_cid(31, ACCOUNT, event)))
            seen = []
            for _ in range(3):
                seen.append(await asyncio.wait_for(received.get(), 10))
                clock.advance(ACK_TIMEOUT_S - 0.001)
                await asyncio.sleep(0.05)
                assert not sending.done()  # not a millisecond early
                clock.advance(0.001)
            result = await sending
            (arrived,) = await backup.wait_for(1)
        assert outcomes(result) == [("primary", "timeout")] * 3 + [("backup", "ack")]
        assert [a.detail for a in result.attempts[:3]] == ["no answer within 10s"] * 3
        assert [a.finished_ms - a.started_ms for a in result.attempts[:3]] == [10_000] * 3
        # Each retry: the same sequence number, a fresh connection, a fresh timestamp.
        assert all(b'"*ADM-CID"0031L0#AAA123[' in frame for frame in seen)
        assert len(set(seen)) == 3
        assert (arrived.sequence, arrived.code) == ("0031", "YN")
        assert clock.pending() == 0  # no time-out left behind

    run(scenario)


def test_both_receivers_down_is_not_acked_and_lists_every_attempt() -> None:
    async def scenario() -> None:
        clock = now_clock()
        primary = ReceiverAddress("primary", "127.0.0.1", free_port("tcp"))
        backup = ReceiverAddress("backup", "127.0.0.1", free_port("udp"), "udp")
        async with transmitter([primary, backup], clock, KEY, attempts=2) as sender:
            event = contact_id.for_alarm("panic", zone=1, group=1)
            result = await sender.send(Dc09Frame.adm_cid(2, ACCOUNT, event))
        assert (result.acked, result.receiver) == (False, None)
        assert outcomes(result) == [("primary", "refused")] * 2 + [("backup", "refused")] * 2
        assert all(a.detail for a in result.attempts)

    run(scenario)


def test_one_tcp_connection_carries_message_after_message() -> None:
    async def scenario() -> None:
        async with (
            sia_receiver("primary", [sia_account("AAA123", None)]) as arc,
            transmitter([arc.address], now_clock(), None) as sender,
        ):
            peers = set()
            for sequence in (1, 2, 3):
                result = await sender.send(Dc09Frame.null(sequence, ACCOUNT))
                assert result.acked
                connection = sender._connections["primary"]  # noqa: SLF001
                peers.add(connection.writer.get_extra_info("sockname"))
            await arc.wait_for(3)
        assert len(peers) == 1

    run(scenario)


def test_a_receiver_that_closes_the_connection_is_reconnected() -> None:
    """A receiver that answers, then hangs up (as some close idle links): the next message
    goes on a new connection and is acked."""

    async def scenario() -> None:
        connections: list[str] = []

        async def answer_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.readuntil(b"\r")
            sequence = data.split(b'"NULL"')[1][:4].decode()
            connections.append(sequence)
            writer.write(wrap(f'"ACK"{sequence}L0#AAA123[]'))
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer_once, "127.0.0.1", 0)
        address = ReceiverAddress("primary", "127.0.0.1", server.sockets[0].getsockname()[1])
        async with transmitter([address], now_clock(), None) as sender:
            first = await sender.send(Dc09Frame.null(1, ACCOUNT))
            second = await sender.send(Dc09Frame.null(2, ACCOUNT))
        server.close()
        await server.wait_closed()
        assert first.acked and second.acked
        assert second.attempts[-1].outcome == "ack"
        assert connections == ["0001", "0002"]

    run(scenario)


def test_an_unknown_account_is_nakd_and_not_acked() -> None:
    """pysiaalarm answers a message for an account it does not know with a bare "NAK" (no CRC,
    no CR): a NAK all the same, never mistaken for an ACK."""

    async def scenario() -> None:
        async with (
            sia_receiver("primary", [sia_account("BBB999", None)]) as arc,
            transmitter([arc.address], now_clock(), None, attempts=2) as sender,
        ):
            event = contact_id.for_alarm("panic", zone=1, group=1)
            result = await sender.send(Dc09Frame.adm_cid(8, ACCOUNT, event))
        assert outcomes(result) == [("primary", "nak")] * 2
        assert result.attempts[0].detail == 'unframed "NAK" (no CRC)'
        assert arc.events == []

    run(scenario)


def test_a_location_the_receiver_naks_is_dropped_and_the_alarm_acked_at_once() -> None:
    """pysiaalarm NAKs the two extended-data fields of a located panic: the same message goes
    again at once without them and is acked, within the receiver's one allowed attempt; with
    ``send_location=False`` it goes without them from the start."""

    async def scenario() -> None:
        event = contact_id.for_alarm("panic", zone=2, group=1)
        frame = Dc09Frame.adm_cid(6, ACCOUNT, event, location=Location(51.5, -0.14))
        async with sia_receiver("primary", [sia_account("AAA123", KEY)]) as arc:
            located = Transmitter(
                [arc.address],
                now_clock(),
                key=KEY,
                ack_timeout_s=ACK_TIMEOUT_S,
                attempts_per_receiver=1,
                send_location=True,
            )
            try:
                result = await located.send(frame)
            finally:
                await located.close()
            async with transmitter([arc.address], now_clock(), KEY) as sender:
                without = await sender.send(frame)
            received = await arc.wait_for(2)
        assert outcomes(result) == [("primary", "nak"), ("primary", "ack")]
        assert result.attempts[0].detail.endswith("; sent again without the location")
        assert result.acked and result.receiver == "primary"
        assert [e.sequence for e in received] == ["0006", "0006"]
        assert all(e.x_data is None for e in received)
        assert outcomes(without) == [("primary", "ack")]

    run(scenario)


def test_a_receiver_address_reads_host_and_port_and_names_its_setting() -> None:
    assert ReceiverAddress.parse(
        "arc1.example.net:5000", name="primary", transport="tcp", setting="arc.primary"
    ) == ReceiverAddress("primary", "arc1.example.net", 5000)
    assert ReceiverAddress.parse(
        "[2001:db8::1]:5001", name="backup", transport="udp", setting="arc.backup"
    ) == ReceiverAddress("backup", "2001:db8::1", 5001, "udp")
    for text, reason in [
        ("arc1.example.net", "must be host:port"),
        (":5000", "must be host:port"),
        ("arc1:http", "must be host:port"),
        ("arc1:70000", "port must be 1-65535"),
    ]:
        with pytest.raises(ValueError, match=f"^arc.backup.*{reason}"):
            ReceiverAddress.parse(text, name="backup", transport="tcp", setting="arc.backup")


def test_a_send_cancelled_mid_attempt_leaves_no_connection_and_no_timer() -> None:
    """The hub stops while a receiver holds its answer: the half-used connection is dropped (a
    late ACK on it must not answer the next message) and the time-out is cancelled."""

    async def scenario() -> None:
        clock = now_clock()
        async with (
            silent_tcp_receiver() as (primary, received),
            transmitter([primary], clock, None) as sender,
        ):
            sending = asyncio.create_task(sender.send(Dc09Frame.null(4, ACCOUNT)))
            await asyncio.wait_for(received.get(), 10)
            assert clock.pending() == 1
            sending.cancel()
            with pytest.raises(asyncio.CancelledError):
                await sending
            assert sender._connections == {}  # noqa: SLF001
            assert clock.pending() == 0

    run(scenario)


def test_after_the_backup_acks_for_a_silent_primary_the_next_alarm_goes_to_the_backup_first() -> (
    None
):
    """A hanging primary costs the first alarm three time-outs; the next alarm goes straight to
    the backup. A supervision test still tries the primary first, to find out when it is back."""

    async def scenario() -> None:
        clock = FakeClock(wall_ms=int(time.time() * 1000) - 6 * int(ACK_TIMEOUT_S * 1000))
        async with (
            silent_tcp_receiver() as (primary, received),
            sia_receiver("backup", [sia_account("AAA123", KEY)]) as backup,
            transmitter([primary, backup.address], clock, KEY) as sender,
        ):

            async def send_past_the_silent_primary(frame: Dc09Frame) -> TransmitOutcome:
                sending = asyncio.create_task(sender.send(frame))
                for _ in range(3):
                    await asyncio.wait_for(received.get(), 10)
                    clock.advance(ACK_TIMEOUT_S)
                return await sending

            panic = contact_id.for_alarm("panic", zone=4, group=1)
            first = await send_past_the_silent_primary(Dc09Frame.adm_cid(40, ACCOUNT, panic))
            second = await sender.send(Dc09Frame.adm_cid(41, ACCOUNT, panic))
            test = contact_id.periodic_test(group=1)
            tested = await send_past_the_silent_primary(Dc09Frame.adm_cid(42, ACCOUNT, test))
            arrived = await backup.wait_for(3)
        assert outcomes(first) == [("primary", "timeout")] * 3 + [("backup", "ack")]
        assert outcomes(second) == [("backup", "ack")]
        assert outcomes(tested) == [("primary", "timeout")] * 3 + [("backup", "ack")]
        assert [e.sequence for e in arrived] == ["0040", "0041", "0042"]

    run(scenario)
