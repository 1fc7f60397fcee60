"""The hub's dead-man's switch: a device in a session that stops sending heartbeats."""

from __future__ import annotations

import asyncio
from pathlib import Path

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Heartbeat
from loneguard.server.store import AlarmKind
from tests.server.rig import DEVICE, Rig, hub_config
from tests.server.runtime_fakes import settle, until


def test_silent_heartbeats_open_one_device_offline_alarm(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        config = hub_config(tmp_path, **{"sessions.offline_after": "90s"})
        rig = await Rig(tmp_path, clock, config).start()
        try:
            await rig.people()
            heartbeat = Heartbeat(ts=clock.wall_ms(), uptime=5, rssi=None, battery=None, queued=0)
            rig.store.record_heartbeat(DEVICE, heartbeat, clock.wall_ms()).result()
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
