"""The ARC link through the real transmitter to pysiaalarm as the ARC: periodic tests (602) on
schedule on the injected clock, an alarm acked encrypted with its account and the worker's zone,
the backup taking over from a primary that is down, and a link whose test fails shown down."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

from pysiaalarm import SIAAccount

from loneguard.protocol.clock import FakeClock
from loneguard.server.arc.arc_settings import ArcSettings
from loneguard.server.arc.dc09 import ArcKey
from loneguard.server.arc.events import ArcLinkState
from loneguard.server.arc.link import ArcLink
from loneguard.server.arc.transmitter import ReceiverAddress, Transmitter
from loneguard.server.store.arc_records import ArcMessageState
from loneguard.server.store.sqlite import SqliteStore

from .link_helpers import alarm_event, open_alarm, until
from .sia_receiver import free_port, sia_receiver

KEY = ArcKey.from_characters("loneguard-arc-16")
ACCOUNT = "AAA123"


def any_time_account() -> SIAAccount:
    # The fake clock is driven ahead of the receiver's real clock (10-minute tests): the
    # timestamp window pysiaalarm checks (40 s behind, 20 s ahead) is the wire's test, not this.
    return SIAAccount(ACCOUNT, KEY.secret.decode("ascii"), allowed_timeband=None)


def settings(interval: str = "0s") -> ArcSettings:
    return ArcSettings.model_validate(
        {
            "primary": "127.0.0.1:1",  # the transmitter below names the real receivers
            "account": ACCOUNT,
            "supervision_interval": interval,
            "group": 2,
        }
    )


def run(tmp_path: Path, scenario: Callable[[SqliteStore, FakeClock], Awaitable[None]]) -> None:
    async def main() -> None:
        clock = FakeClock(wall_ms=int(time.time() * 1000))
        store = SqliteStore(tmp_path / "hub.db", now_ms=clock.wall_ms)
        try:
            await asyncio.wait_for(scenario(store, clock), 60)
        finally:
            store.close()

    asyncio.run(main())


def link(
    store: SqliteStore,
    clock: FakeClock,
    receivers: list[ReceiverAddress],
    arc: ArcSettings,
) -> ArcLink:
    transmitter = Transmitter(
        receivers,
        clock,
        key=KEY,
        ack_timeout_s=10,
        attempts_per_receiver=arc.attempts,
        send_location=arc.send_location,
    )
    return ArcLink(store, clock, arc, transmitter, owner="hub-a", encrypted=True)


def test_periodic_tests_go_on_schedule_and_are_acked(tmp_path: Path) -> None:
    async def scenario(store: SqliteStore, clock: FakeClock) -> None:
        async with sia_receiver("primary", [any_time_account()]) as arc:
            sender = link(store, clock, [arc.address], settings("10m"))
            await sender.start()
            await arc.wait_for(1)  # the first test goes at start
            start_ms = clock.wall_ms()
            for n in (2, 3):
                clock.advance(599)
                await asyncio.sleep(0.1)
                assert len(arc.events) == n - 1  # not early
                clock.advance(1)
                await arc.wait_for(n)
            await until(lambda: sender.state().last_ack_ms is not None)
            await sender.stop()
        assert [(e.code, e.event_type, e.sequence, e.account) for e in arc.events] == [
            ("RP", "602", "0001", ACCOUNT),
            ("RP", "602", "0002", ACCOUNT),
            ("RP", "602", "0003", ACCOUNT),
        ]
        assert all(e.encrypted and e.ri == "000" and e.partition == "02" for e in arc.events)
        state = sender.state()
        assert state.up and state.last_ack_receiver == "primary"
        assert state.next_test_ms == start_ms + 1_800_000  # the fourth, 10 minutes on

    run(tmp_path, scenario)


def test_an_alarm_goes_to_the_backup_when_the_primary_is_down(tmp_path: Path) -> None:
    async def scenario(store: SqliteStore, clock: FakeClock) -> None:
        down = ReceiverAddress("primary", "127.0.0.1", free_port())
        async with sia_receiver("backup", [any_time_account()]) as backup:
            sender = link(store, clock, [down, backup.address], settings())
            await sender.start()

            alarm_id = store.write(open_alarm(clock.wall_ms(), worker_id="w7")).result(10)
            event = alarm_event(alarm_id, worker_id="w7", occurred_ms=clock.wall_ms())
            result = await sender.deliver(event)
            (received,) = await backup.wait_for(1)
            await sender.stop()
        assert result.ok and "backup" in result.detail
        assert (received.account, received.code, received.ri, received.partition) == (
            ACCOUNT,
            "PA",
            "001",  # w7 is the first worker the ARC hears of: zone 1, for good
            "02",
        )
        message = store.arc_message(event.key)
        assert message is not None and message.state == ArcMessageState.ACKED
        assert [(a.receiver, a.outcome) for a in store.arc_attempts(message.id)] == [
            ("primary", "refused"),
            ("primary", "refused"),
            ("primary", "refused"),
            ("backup", "ack"),
        ]
        assert received.sequence == f"{message.sequence:04d}"

    run(tmp_path, scenario)


def test_a_failing_test_turns_the_link_down(tmp_path: Path) -> None:
    async def scenario(store: SqliteStore, clock: FakeClock) -> None:
        nobody = ReceiverAddress("primary", "127.0.0.1", free_port())
        sender = link(store, clock, [nobody], settings("5m"))
        states: list[ArcLinkState] = []
        sender.add_listener(states.append)
        await sender.start()
        await until(lambda: not sender.state().up)
        down = sender.state()
        assert down.failures == 3 and down.down_since_ms is not None
        assert down.last_failure is not None and down.last_failure.startswith("primary: refused")
        assert [s.up for s in states][-1] is False  # the console heard it
        await sender.stop()

    run(tmp_path, scenario)


def test_a_location_the_receiver_cannot_read_does_not_hold_the_alarm(tmp_path: Path) -> None:
    async def scenario(store: SqliteStore, clock: FakeClock) -> None:
        arc_settings = settings().model_copy(update={"send_location": True})
        async with sia_receiver("primary", [any_time_account()]) as arc:
            sender = link(store, clock, [arc.address], arc_settings)
            await sender.start()
            alarm_id = store.write(open_alarm(clock.wall_ms())).result(10)
            event = replace(alarm_event(alarm_id, "duress"), location=(51.501, -0.142))
            result = await sender.deliver(event)
            (received,) = await arc.wait_for(1)
            await sender.stop()
        assert result.ok
        message = store.arc_message(event.key)
        assert message is not None and (message.latitude, message.longitude) == (51.501, -0.142)
        attempts = store.arc_attempts(message.id)
        assert [a.outcome for a in attempts] == ["nak", "ack"]  # pysiaalarm reads no X/Y
        assert "sent again without the location" in attempts[0].detail
        assert (received.code, received.sequence) == ("HA", f"{message.sequence:04d}")

    run(tmp_path, scenario)
