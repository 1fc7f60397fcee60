"""The hub's SMS path against the fake modem on a pty: an overdue alarm texts the worker, an
``ACK <id>`` reply takes charge, a fallback line opens a panic alarm through ingest, and a line
with a wrong HMAC is rejected."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loneguard.gsm.fake import FakeModem
from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Ack, AckStatus, Event, EventKind, Location
from loneguard.protocol.sms import FallbackLine
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.store import AlarmKind, AlarmState
from tests.server.rig import ANN, DEVICE, MGR, Rig, hub_config
from tests.server.runtime_fakes import settle, until

SECRET = "device-secret-0123456789"
M = 60.0


@pytest.fixture
def fake() -> Iterator[FakeModem]:
    with FakeModem() as modem:
        yield modem


def modem_on(fake: FakeModem) -> Modem:
    return Modem(
        fake.path, command_timeout=1.0, slow_timeout=1.0, boot_timeout=1.0, clock=FakeClock()
    )


def test_overdue_sms_to_the_worker_and_an_ack_reply_stops_the_ladder(
    tmp_path: Path, fake: FakeModem
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, hub_config(tmp_path)).start(modem_on(fake))
        try:
            await rig.people()
            start = clock.monotonic()
            await rig.visit(30)
            for minute in (25, 30, 35):
                clock.advance(start + minute * M - clock.monotonic())
                await settle(5)
            await until(lambda: len(fake.sent) == 1)
            (alarm,) = rig.store.alarms()
            number, text = fake.sent[0]
            assert number == ANN.mobile
            assert text.startswith("Ann, you are overdue from 1 Example Road")  # to the worker

            fake.deliver_sms(MGR.mobile or "", f"ACK {alarm.id}")
            await until(lambda: rig.store.alarm(alarm.id).state == AlarmState.ACKNOWLEDGED)  # type: ignore[union-attr]
            assert rig.store.alarm(alarm.id).acknowledged_by == MGR.name  # type: ignore[union-attr]
            await until(lambda: len(fake.sent) == 2)  # the reply to the manager
            assert fake.sent[1][0] == MGR.mobile

            clock.advance(start + 40 * M - clock.monotonic())  # the 40m step must not come
            await settle()
            assert len(fake.sent) == 2
            assert all(s.monotonic - start < 36 * M for s in rig.sent)
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_fallback_lines_go_through_ingest_and_a_wrong_hmac_is_rejected(
    tmp_path: Path, fake: FakeModem
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, hub_config(tmp_path)).start(modem_on(fake))
        try:
            await rig.people()
            rig.store.set_device_secret(DEVICE, SECRET, "test").result()
            gateway = rig.services.gateway
            assert gateway is not None

            forged = FallbackLine(DEVICE, EventKind.PANIC, str(uuid.uuid4()), clock.wall_ms())
            fake.deliver_sms(ANN.mobile or "", forged.encode(b"not the secret"))
            await until(lambda: gateway.rejected == 1)
            assert rig.store.alarms() == []

            panic = FallbackLine(DEVICE, EventKind.PANIC, str(uuid.uuid4()), clock.wall_ms())
            fake.deliver_sms(ANN.mobile or "", panic.encode(SECRET.encode()))
            fake.deliver_sms(ANN.mobile or "", panic.encode(SECRET.encode()))  # sent twice
            await until(lambda: gateway.fallbacks == 2)
            await until(lambda: len(rig.publisher.published) >= 2)
            alarms = rig.store.alarms()
            assert [(a.kind, a.device_id, a.event_id) for a in alarms] == [
                (AlarmKind.PANIC, DEVICE, panic.event_id)
            ]  # one alarm: the same dedupe as MQTT
            acks = {Ack.decode(p) for t, p in rig.publisher.published if t.endswith("/ack")}
            assert acks == {Ack(panic.event_id, AckStatus.HELP_COMING)}
            events = rig.store.events(device_id=DEVICE)
            assert [(e.kind, e.link, e.seq) for e in events] == [("panic", "sms", 0)]

            # The device's MQTT copy comes once the broker is back: it completes the event
            # (seq, location) and opens nothing more.
            mqtt_copy = Event(
                panic.event_id, EventKind.PANIC, panic.ts, seq=12, location=Location(51.5, -0.1)
            )
            await rig.ingest.handle(str(DeviceTopic(DEVICE, Channel.EVENT)), mqtt_copy.encode())
            await rig.ingest.drain()
            [event] = rig.store.events(device_id=DEVICE)
            assert (event.seq, event.links, event.body.get("location")) == (
                12,
                ("sms", "mqtt"),
                {"lat": 51.5, "lon": -0.1},
            )
            assert [a.id for a in rig.store.alarms()] == [alarms[0].id]
        finally:
            await rig.stop()

    asyncio.run(scenario())
