"""The SMS gateway against the fake modem on a pty: fallback lines, ACK replies, garbage,
wrong MACs and a broken serial line. No fixed sleeps: every wait is on a condition."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest

from loneguard.gsm.fake import FakeModem
from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind, Link
from loneguard.protocol.sms import TEST_KIND, FallbackLine
from loneguard.server.sms.gateway import SmsGateway, parse_ack

NUMBER = "+447700900123"
SECRET = b"device-secret"
EVENT_ID = "01HZX3J4K5M6N7P8Q9R0S1T2V3"


@pytest.fixture
def fake() -> Iterator[FakeModem]:
    with FakeModem() as fake:
        yield fake


@dataclass
class Hub:
    """The callbacks the hub would pass in, recording what reached them."""

    fallbacks: list[tuple[str, Event]] = field(default_factory=list)
    acks: list[tuple[int, str]] = field(default_factory=list)
    reply: str | None = "alarm 12: you are in charge"
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_ack(self, alarm_id: int, sender: str) -> str | None:
        self.acks.append((alarm_id, sender))
        self.changed.set()
        return self.reply

    async def on_fallback(self, device_id: str, event: Event) -> None:
        self.fallbacks.append((device_id, event))
        self.changed.set()

    @staticmethod
    def secret_for(device_id: str) -> bytes | None:
        return SECRET if device_id == "unit-7" else None


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for a condition the gateway's threads make true (checked every few ms)."""
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


@asynccontextmanager
async def running(
    fake: FakeModem, hub: Hub, clock: FakeClock | None = None
) -> AsyncIterator[tuple[SmsGateway, Modem]]:
    modem = Modem(
        fake.path,
        command_timeout=0.5,
        slow_timeout=0.5,
        boot_timeout=0.5,
        sweep_interval=60.0,
        clock=FakeClock(),  # the first poll sweeps the SIM; later ones only follow +CMTI
    )
    gateway = SmsGateway(
        modem,
        clock or FakeClock(),
        on_ack=hub.on_ack,
        on_fallback=hub.on_fallback,
        secret_for=hub.secret_for,
        poll_interval=0.1,
    )
    task = asyncio.create_task(gateway.run())
    try:
        yield gateway, modem
    finally:
        gateway.stop()
        await asyncio.wait_for(task, 5)
        modem.close()


def line(kind: EventKind = EventKind.PANIC, secret: bytes = SECRET) -> str:
    return FallbackLine("unit-7", kind, EVENT_ID, 1_767_225_600_123).encode(secret)


def test_parse_ack() -> None:
    assert [parse_ack(t) for t in ("ACK 12", "ack12", " Ack   12 ", "ACK #7", "ack 3.")] == [
        12,
        12,
        12,
        7,
        3,
    ]
    assert [parse_ack(t) for t in ("ACK", "ACK 12 13", "back 12", "ACK -1", "ACK 1x")] == [None] * 5


def test_a_valid_fallback_line_reaches_ingest_and_is_then_deleted(
    fake: FakeModem, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        hub = Hub()
        fake.deliver_sms(NUMBER, line())  # before start: found by the first sweep
        async with running(fake, hub) as (gateway, _):
            await until(lambda: not fake.inbox)
            assert hub.fallbacks == [
                ("unit-7", Event(EVENT_ID, EventKind.PANIC, 1_767_225_600_123, 0, Link.SMS))
            ]
            fake.deliver_sms(NUMBER, line(EventKind.CHECKIN))  # while running: +CMTI
            await until(lambda: len(hub.fallbacks) == 2 and not fake.inbox)
            assert hub.fallbacks[1][1].kind == EventKind.CHECKIN
            assert (gateway.received, gateway.fallbacks, gateway.rejected) == (2, 2, 0)
        assert NUMBER not in caplog.text and EVENT_ID not in caplog.text

    asyncio.run(scenario())


def test_deleted_only_after_the_callback_completes(fake: FakeModem) -> None:
    async def scenario() -> None:
        hub = Hub()
        entered, release = asyncio.Event(), asyncio.Event()

        async def slow_ingest(device_id: str, event: Event) -> None:
            entered.set()
            await release.wait()
            await Hub.on_fallback(hub, device_id, event)

        hub.on_fallback = slow_ingest  # type: ignore[method-assign]
        fake.deliver_sms(NUMBER, line())
        async with running(fake, hub):
            await asyncio.wait_for(entered.wait(), 5)
            assert len(fake.inbox) == 1  # still on the SIM while ingest works
            assert not any(c.startswith("AT+CMGD") for c in fake.commands())
            release.set()
            await until(lambda: not fake.inbox)

    asyncio.run(scenario())


def test_a_failing_callback_leaves_the_message_on_the_sim(fake: FakeModem) -> None:
    async def scenario() -> None:
        hub = Hub()

        async def broken_ingest(device_id: str, event: Event) -> None:
            raise RuntimeError("store unavailable")

        hub.on_fallback = broken_ingest  # type: ignore[method-assign]
        fake.deliver_sms(NUMBER, line())
        async with running(fake, hub) as (gateway, _):
            await until(lambda: gateway.callback_errors == 1)
            assert len(fake.inbox) == 1  # the next sweep reads it again

    asyncio.run(scenario())


def test_wrong_hmac_and_unknown_device_are_rejected_and_deleted(
    fake: FakeModem, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> None:
        hub = Hub()
        fake.deliver_sms(NUMBER, line(secret=b"wrong"))
        stranger = FallbackLine("unit-9", EventKind.PANIC, EVENT_ID, 1).encode(SECRET)
        fake.deliver_sms(NUMBER, stranger)
        fake.deliver_sms(NUMBER, "LG1 unit-7 PANIC")  # malformed
        async with running(fake, hub) as (gateway, _):
            await until(lambda: gateway.rejected == 3 and not fake.inbox)
            assert hub.fallbacks == []
            assert dict(gateway.rejections) == {"sms.hmac": 1, "sms.device_id": 1, "sms": 1}
        assert "rejected: bad sms.hmac" in caplog.text
        assert NUMBER not in caplog.text and EVENT_ID not in caplog.text

    asyncio.run(scenario())


def test_ack_reaches_the_hub_and_the_reply_is_sent(fake: FakeModem) -> None:
    async def scenario() -> None:
        hub = Hub()
        async with running(fake, hub) as (gateway, _):
            await until(lambda: "AT+CNMI=2,1,0,0,0" in fake.commands())
            fake.sms_sent.clear()
            fake.deliver_sms(NUMBER, "  ack 12 ")
            await asyncio.wait_for(asyncio.to_thread(fake.sms_sent.wait, 5), 6)
            assert hub.acks == [(12, NUMBER)]
            assert fake.sent == [(NUMBER, "alarm 12: you are in charge")]
            await until(lambda: not fake.inbox)
            # An unknown number: the hub returns no reply, nothing is sent, still deleted.
            hub.reply = None
            fake.deliver_sms("+447700900999", "ACK 12")
            await until(lambda: len(hub.acks) == 2 and not fake.inbox)
            assert len(fake.sent) == 1 and gateway.replies == 1

    asyncio.run(scenario())


def test_garbage_is_ignored_and_deleted(fake: FakeModem) -> None:
    async def scenario() -> None:
        hub = Hub()
        fake.deliver_sms(NUMBER, "Your bill is ready")
        fake.deliver_sms(NUMBER, "")
        async with running(fake, hub) as (gateway, _):
            await until(lambda: gateway.ignored == 2 and not fake.inbox)
            assert hub.acks == [] and hub.fallbacks == [] and fake.sent == []

    asyncio.run(scenario())


def test_a_broken_serial_line_is_survived(fake: FakeModem) -> None:
    async def scenario() -> None:
        hub = Hub()
        clock = FakeClock()
        async with running(fake, hub, clock) as (gateway, modem):
            await until(lambda: "AT+CNMI=2,1,0,0,0" in fake.commands())
            fake.close_line()
            # The line is gone: recovery fails and the gateway waits on the injected clock.
            await until(lambda: gateway.modem_errors >= 1 and clock.pending() == 1)
            fake.reopen_line()
            fake.clear_transcript()

            def back() -> bool:
                clock.advance(60.0)  # ends the gateway's wait before its next recovery
                return modem.health == "ok" and "AT+CNMI=2,1,0,0,0" in fake.commands()

            await until(back)
            fake.deliver_sms(NUMBER, "ACK 4")
            await until(lambda: hub.acks == [(4, NUMBER)] and not fake.inbox)

    asyncio.run(scenario())


def test_a_test_line_from_selftest_is_recorded_as_a_test_never_an_alarm(
    fake: FakeModem, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)

    async def scenario() -> None:
        hub = Hub()
        test_line = FallbackLine("unit-7", TEST_KIND, EVENT_ID, 1_767_225_600_999).encode(SECRET)
        fake.deliver_sms(NUMBER, test_line)
        async with running(fake, hub) as (gateway, _):
            await until(lambda: not fake.inbox)
            assert hub.fallbacks == []  # nothing reaches ingest: no event, no alarm
            assert gateway.tests == {"unit-7": 1_767_225_600_999}
            assert (gateway.fallbacks, gateway.rejected) == (0, 0)
            # A TEST line with a wrong MAC is rejected like any other.
            fake.deliver_sms(NUMBER, test_line[:-8] + "00000000")
            await until(lambda: gateway.rejected == 1 and not fake.inbox)
        assert "test SMS from device unit-7" in caplog.text

    asyncio.run(scenario())
