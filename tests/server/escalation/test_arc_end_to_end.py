"""A panic from the device's event to pysiaalarm as the ARC, through the hub's own services: the
shipped panic policy's ``arc`` channel, the real ArcLink the hub builds from ``[arc]``, the real
transmitter, AES-128. The ARC hears the panic once while the office's ladder repeats, hears the
restoral when the alarm is resolved, and the alarm's console timeline shows both messages and
their acks. With the ARC unreachable, the failed supervision test at start is pushed to the
consoles, the board says to ring the ARC, and a panic's ARC row waits for the link."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

from fastapi.testclient import TestClient
from pysiaalarm import SIAAccount

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind, Location
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.api import create_app
from loneguard.server.arc.dc09 import ArcKey
from loneguard.server.console import views
from loneguard.server.console.settings import ConsoleSettings
from loneguard.server.console.users import create_user
from loneguard.server.store import NotificationRow, NotificationState, Role
from tests.server.arc.sia_receiver import free_port, sia_receiver
from tests.server.console.conftest import PASSWORD, log_in
from tests.server.rig import ANN, DEVICE, MGR, Rig, hub_config
from tests.server.runtime_fakes import settle, until

KEY = ArcKey.from_characters("loneguard-arc-16")
ACCOUNT = "AAA123"
M = 60.0


def test_a_panic_reaches_pysiaalarm_once_and_its_resolution_as_a_restoral(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        # The fake clock runs minutes ahead of the receiver's real one: pysiaalarm's timestamp
        # window (40 s behind, 20 s ahead) is the wire's test (tests/server/arc), not this one's.
        account = SIAAccount(ACCOUNT, KEY.secret.decode("ascii"), allowed_timeband=None)
        async with sia_receiver("primary", [account]) as arc:
            clock = FakeClock(wall_ms=int(time.time() * 1000))
            config = hub_config(
                tmp_path,
                **{
                    "escalation.admins": ["Office: +447700900009"],
                    "arc.primary": f"127.0.0.1:{arc.address.port}",
                    "arc.account": ACCOUNT,
                    "arc.key": KEY.hex_digits(),
                    "arc.supervision_interval": "0s",
                },
            )
            rig = await Rig(tmp_path, clock, config).start()
            try:
                await rig.people()
                assert rig.services.arc is not None and rig.services.arc.configured
                start = clock.monotonic()
                event = Event(
                    str(uuid.uuid4()),
                    EventKind.PANIC,
                    clock.wall_ms(),
                    seq=1,
                    location=Location(51.5014, -0.1419, 12.0),
                )
                await rig.ingest.handle(str(DeviceTopic(DEVICE, Channel.EVENT)), event.encode())
                (panic,) = await arc.wait_for(1)
                for repeat in (1, 2, 3):  # the office's ladder repeats every 2 minutes
                    clock.advance(start + 2 * repeat * M - clock.monotonic())
                    await until(
                        lambda n=repeat: sum(s.channel == "sms" for s in rig.sent) == 2 * (n + 1)
                    )
                await settle()
                assert len(arc.events) == 1
                assert (panic.account, panic.code, panic.event_qualifier, panic.event_type) == (
                    ACCOUNT,
                    "PA",
                    "1",
                    "120",
                )
                assert panic.encrypted and panic.ri == "001"  # Ann: the first worker, zone 1
                (alarm,) = rig.store.alarms()
                (row,) = [r for r in rig.store.notifications(alarm.id) if r.channel == "arc"]
                assert row.state == NotificationState.SENT and row.key == f"alarm:{alarm.id}:open"

                taken = rig.store.acknowledge_alarm(alarm.id, MGR.name, clock.wall_ms(), "t")
                rig.services.alarm_changed(taken.result())
                done = rig.store.resolve_alarm(
                    alarm.id, MGR.name, "false alarm", "pressed by mistake", clock.wall_ms(), "t"
                )
                rig.services.alarm_changed(done.result())
                _, restoral = await arc.wait_for(2)
                assert (restoral.code, restoral.event_qualifier, restoral.ri) == (
                    "PH",
                    "3",
                    "001",
                )  # pysiaalarm: 3120 is PH, panic restored
                assert int(restoral.sequence or 0) == int(panic.sequence or 0) + 1

                await until(lambda: rig.services.arc_state().pending == 0)
                state = rig.services.arc_state()
                assert state.up and state.last_ack_receiver == "primary"
                told = [(e.who, e.what) for e in views.timeline(rig.store, alarm)]
                assert told.count(("ARC primary receiver", "ARC message acked")) == 1
                assert told.count(("ARC primary receiver", "ARC restoral acked")) == 1
                assert ANN.name not in str(arc.events)  # zones on the wire, never names
            finally:
                await rig.stop()

    asyncio.run(scenario())


def test_with_the_arc_unreachable_the_console_says_ring_the_arc_and_the_panic_waits_for_it(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock(wall_ms=int(time.time() * 1000))
        config = hub_config(
            tmp_path,
            **{
                "escalation.admins": ["Office: +447700900009"],
                "arc.primary": f"127.0.0.1:{free_port()}",  # nobody listens: refused
                "arc.account": ACCOUNT,
                "arc.key": KEY.hex_digits(),
                "arc.attempts": 1,
                "arc.supervision_interval": "10m",
                "arc.phone": "+44 20 7946 0000",
            },
        )
        rig = Rig(tmp_path, clock, config)
        await rig.start()
        try:
            frames = rig.services.broadcaster.subscribe(f"{rig.services.broadcaster.instance}-0")
            await until(lambda: not rig.services.arc_state().up)  # the test at start failed
            pushed = []  # every frame since the hub started, to the first that says down
            while not pushed or '"down":true' not in pushed[-1]:
                pushed.append(await asyncio.wait_for(anext(frames), 5))
            assert "event: arc_link" in pushed[-1]
            await frames.aclose()  # type: ignore[attr-defined]
            app = create_app(
                rig.store, clock=clock, hooks=rig.services.hooks(), console=ConsoleSettings()
            )
            create_user(rig.store, "vic", Role.VIEWER, PASSWORD, clock.wall_ms())
            with TestClient(app, follow_redirects=False) as client:
                log_in(client, "vic")
                board = client.get("/console").text
            assert "Alarms are NOT reaching the ARC: ring them on +44 20 7946 0000" in board
            assert "primary: refused" in board

            await rig.people()
            await press(rig, EventKind.PANIC)
            (alarm,) = rig.store.alarms()
            await until(lambda: any(r.channel == "arc" and r.attempts for r in rows(rig, alarm.id)))
            (row,) = [r for r in rows(rig, alarm.id) if r.channel == "arc"]
            assert row.state == NotificationState.PENDING  # the link keeps sending it
            assert row.last_result is not None and "the link keeps sending it" in row.last_result
            told = [(e.who, e.what) for e in views.timeline(rig.store, alarm)]
            assert ("ARC primary receiver", "ARC message connection refused") in told
        finally:
            await rig.stop()

    asyncio.run(scenario())


async def press(rig: Rig, kind: EventKind) -> None:
    event = Event(str(uuid.uuid4()), kind, rig.clock.wall_ms(), seq=1)
    await rig.ingest.handle(str(DeviceTopic(DEVICE, Channel.EVENT)), event.encode())
    await rig.ingest.drain()


def rows(rig: Rig, alarm_id: int) -> list[NotificationRow]:
    return rig.store.notifications(alarm_id)
