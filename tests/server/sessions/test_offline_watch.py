"""The hub's dead-man's switch: a device in a session that stops sending heartbeats."""

from __future__ import annotations

import asyncio
from pathlib import Path

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Heartbeat
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.store import AlarmKind, LastHeard
from loneguard.server.store.sqlite import SqliteStore
from tests.server.rig import DEVICE, Rig, hub_config
from tests.server.runtime_fakes import settle, until


def test_silent_heartbeats_open_one_device_offline_alarm(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        config = hub_config(tmp_path, **{"sessions.offline_after": "90s"})
        rig = await Rig(tmp_path, clock, config).start()
        try:
            await rig.people()
            heard = LastHeard(DEVICE, clock.wall_ms(), rssi=None, battery=None, queued=0)
            rig.store.record_last_seen([heard]).result()
            session = await rig.visit(120)
            for _ in range(3):  # 90 s: still within the bound
                clock.advance(30)
                await settle(5)
            assert rig.store.alarms() == []
            clock.advance(30)
            await until(lambda: len(rig.store.alarms()) == 1)
            for _ in range(6):  # silent on: still one alarm
                clock.advance(30)
                await settle(5)
            (alarm,) = rig.store.alarms()
            assert (alarm.kind, alarm.session_id) == (AlarmKind.DEVICE_OFFLINE, session.id)
            await until(lambda: any(s.alarm_id == alarm.id for s in rig.sent))
        finally:
            await rig.stop()

    asyncio.run(scenario())


HEARTBEAT = str(DeviceTopic(DEVICE, Channel.HEARTBEAT))
# Heartbeats stay in memory for the whole test unless a test flushes them itself.
HELD = {"sessions.offline_after": "90s", "ingest.heartbeat_flush": "1h"}


async def beat(rig: Rig, clock: FakeClock) -> None:
    heartbeat = Heartbeat(ts=clock.wall_ms(), uptime=5, rssi=-70, battery=80, queued=0)
    await rig.ingest.handle(HEARTBEAT, heartbeat.encode())


async def advance(clock: FakeClock, seconds: float) -> None:
    clock.advance(seconds)
    await settle(5)


def test_the_bound_holds_on_heartbeats_held_in_memory(tmp_path: Path) -> None:
    """The sweep hears what ingest holds in memory: no alarm while the store's last-seen is
    stale, the alarm at the first sweep past the bound from the last heartbeat."""

    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, hub_config(tmp_path, **HELD)).start()
        try:
            await rig.people()
            await beat(rig, clock)
            await rig.ingest.drain()  # read, taken and its last-seen flushed
            stored_ms = clock.wall_ms()
            await rig.visit(120)
            for _ in range(2):  # heartbeats 30 s and 60 s in, in memory only
                await advance(clock, 30)
                await beat(rig, clock)
            last_ms = clock.wall_ms()
            device = rig.store.device(DEVICE)
            assert device is not None and device.last_heartbeat_ms == stored_ms
            for _ in range(3):  # sweeps 30, 60 and 90 s after the last heartbeat: within it
                await advance(clock, 30)
            assert rig.store.alarms() == []
            await advance(clock, 30)  # the first sweep past the bound
            await until(lambda: len(rig.store.alarms()) == 1)
            (alarm,) = rig.store.alarms()
            assert alarm.kind == AlarmKind.DEVICE_OFFLINE
            assert alarm.opened_ms - last_ms == 120_000
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a_restart_after_a_crash_opens_no_false_alarm(tmp_path: Path) -> None:
    """A crash loses the last-seen still in memory: the restarted hub counts its own start as
    hearing the device, so the stale stored time opens no alarm; a device that stays silent
    opens it one bound after the start."""

    async def scenario() -> None:
        clock = FakeClock()
        config = hub_config(tmp_path, **HELD)
        crashed = await Rig(tmp_path, clock, config).start()
        await crashed.people()
        await beat(crashed, clock)
        await crashed.ingest.drain()  # read, taken and its last-seen flushed
        await crashed.visit(120)
        for _ in range(2):  # heard 30 s and 60 s in, never stored
            await advance(clock, 30)
            await beat(crashed, clock)
        crashed.services.scheduler.cancel_all()  # the crash: no stop, no last flush
        crashed.store.close()

        rig = await Rig(tmp_path, clock, config).start()
        try:
            started_ms = clock.wall_ms()
            device = rig.store.device(DEVICE)
            assert device is not None and started_ms - (device.last_heartbeat_ms or 0) == 60_000
            for _ in range(3):  # sweeps up to the bound from the start (150 s from the store's)
                await advance(clock, 30)
            assert rig.store.alarms() == []
            await advance(clock, 30)
            await until(lambda: len(rig.store.alarms()) == 1)
            assert rig.store.alarms()[0].opened_ms - started_ms == 120_000
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a_clean_stop_stores_the_last_seen_held_in_memory(tmp_path: Path) -> None:
    """What the devices pages read after a stop: the last heartbeat, not the last flush."""

    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, hub_config(tmp_path, **HELD)).start()
        await beat(rig, clock)
        await advance(clock, 30)
        await beat(rig, clock)
        assert rig.store.device(DEVICE) is None  # held in memory, not yet written
        await rig.stop()
        rig.store = SqliteStore(tmp_path / "hub.db", now_ms=clock.wall_ms)
        try:
            device = rig.store.device(DEVICE)
            assert device is not None
            assert (device.last_heartbeat_ms, device.rssi, device.battery) == (
                clock.wall_ms(),
                -70,
                80,
            )
        finally:
            rig.store.close()

    asyncio.run(scenario())
