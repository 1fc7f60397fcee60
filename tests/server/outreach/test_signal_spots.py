"""Signal black spots: heartbeats during visits counted per address, and workers' reports."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind, Heartbeat
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.outreach.address_key import address_key
from loneguard.server.outreach.signal_spots import Sample, is_black_spot, signal_sample
from loneguard.server.sessions import rules
from tests.server.rig import DEVICE, Rig, hub_config
from tests.server.runtime_fakes import settle, until

HEARTBEAT = str(DeviceTopic(DEVICE, Channel.HEARTBEAT))
EVENT = str(DeviceTopic(DEVICE, Channel.EVENT))


def beat(clock: FakeClock, rssi: int | None, registered: bool | None = True) -> bytes:
    return Heartbeat(
        ts=clock.wall_ms(), uptime=60, rssi=rssi, queued=0, registered=registered, modem="ok"
    ).encode()


@pytest.mark.parametrize(
    ("rssi", "registered", "modem", "sample"),
    [
        (-80, True, "ok", Sample(False, -80)),
        (-95, True, "ok", Sample(False, -95)),  # the threshold itself is usable
        (-97, True, "ok", Sample(True, -97)),
        (None, True, "ok", Sample(True, None)),  # CSQ 99: not detectable
        (-100, False, "ok", Sample(True, -100)),  # not registered: no network
        (-70, True, "failed", None),  # a broken modem says nothing about the place
        (None, None, None, None),  # a unit without a modem
    ],
)
def test_what_a_heartbeat_says_about_the_place(
    rssi: int | None, registered: bool | None, modem: str | None, sample: Sample | None
) -> None:
    heartbeat = Heartbeat(ts=1, uptime=1, rssi=rssi, registered=registered, modem=modem)
    assert signal_sample(heartbeat, -95) == sample


def test_one_address_written_several_ways_is_one_key() -> None:
    same = ("12 Elm Rd., SW1A 1AA", "12 elm road  sw1a1aa", "12, Elm Road, SW1A 1AA")
    assert {address_key(a) for a in same} == {"12 elm road sw1a1aa"}
    assert address_key("12 Elm Road") != address_key("14 Elm Road")


def test_heartbeats_and_a_workers_report_during_visits_mark_the_address(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, hub_config(tmp_path)).start()
        try:
            await rig.people()
            await rig.ingest.handle(HEARTBEAT, beat(clock, -110))  # no visit: not counted
            visit = await rig.visit(60, address="12 Elm Rd., SW1A 1AA")
            # Planned to start in 10 minutes: the unit is not there yet.
            rig.store.plan_visit(visit.id, clock.wall_ms() + 600_000, "test").result()
            await rig.ingest.handle(HEARTBEAT, beat(clock, -111))
            clock.advance(600)
            for rssi, registered in ((-80, True), (-101, True), (-105, True), (None, False)):
                await rig.ingest.handle(HEARTBEAT, beat(clock, rssi, registered))
                clock.advance(30)
            # Pressed during the visit where there was no signal; it leaves the unit's outbox
            # only after the visit has ended.
            report = Event(str(uuid.uuid4()), EventKind.SIGNAL_REPORT, clock.wall_ms(), seq=1)
            clock.advance(1800)
            rig.store.change_session(
                visit.id, lambda s: rules.end(s, clock.wall_ms(), "test"), clock.wall_ms(), "t", "e"
            ).result()
            await rig.ingest.handle(EVENT, report.encode())
            await rig.ingest.handle(EVENT, report.encode())  # a resend: counted once
            await until(lambda: sum(s.worker_flags for s in rig.store.signal_spots()) >= 1)
            await rig.ingest.drain()
            (spot,) = rig.store.signal_spots()
            assert spot.address_key == "12 elm road sw1a1aa"
            assert (spot.samples, spot.poor_samples, spot.worker_flags) == (4, 3, 1)
            assert spot.worst_dbm == -105
            assert is_black_spot(spot)
            assert rig.store.signal_spot("12 Elm Road SW1A 1AA") == spot  # as typed in a planner
            # The audit names the visit, never the address.
            flag = next(e for e in rig.store.audit() if e.action == "signal.flag")
            assert flag.subject == f"session:{visit.id}" and "Elm" not in str(flag.detail)
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a_minutes_samples_are_written_together_once_it_is_over(tmp_path: Path) -> None:
    """Heartbeats' samples wait in memory for their minute to end; one that ends a visit
    counts only the samples heard while the visit was under way."""

    async def scenario() -> None:
        clock = FakeClock()
        clock.advance((70_000 - clock.wall_ms() % 60_000) / 1000)  # 10 s into a minute
        rig = await Rig(tmp_path, clock, hub_config(tmp_path)).start()
        try:
            await rig.people()
            visit = await rig.visit(60, address="3 Mill Lane, AB1 2CD")
            clock.advance(5)
            await rig.ingest.handle(HEARTBEAT, beat(clock, -101))  # during the visit
            clock.advance(15)
            rig.store.change_session(
                visit.id, lambda s: rules.end(s, clock.wall_ms(), "test"), clock.wall_ms(), "t", "e"
            ).result()
            clock.advance(15)
            await rig.ingest.handle(HEARTBEAT, beat(clock, -120))  # after it ended
            clock.advance(5)  # a flush within the minute: nothing written yet
            await settle(10)
            assert rig.store.signal_spots() == []
            clock.advance(20)  # the minute is over: the next flush writes it
            await until(lambda: rig.store.signal_spots() != [])
            (spot,) = rig.store.signal_spots()
            assert (spot.samples, spot.poor_samples, spot.worst_dbm) == (1, 1, -101)
        finally:
            await rig.stop()

    asyncio.run(scenario())
