"""A wall-clock step of an hour forward and then back while visits are running.

Four visits start together. The wall clock jumps an hour ahead at 10 minutes and back at 45;
meanwhile one visit is extended through ingest (a device's ``session_extend``), one ends with a
check-in. Deadlines armed before a step keep to elapsed time (none fires early, none is lost);
the extension asked for after the step runs its 30 minutes from then; each alarm's ladder sends
each step once, at the same offsets whether or not a step happened in the middle of it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind, new_event_id
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.store import AlarmKind, Worker
from tests.faults.harness import print_counts
from tests.server.rig import Rig, hub_config
from tests.server.runtime_fakes import settle

M = 60.0
GRACE_MIN = 5  # the default sessions.grace
VISITS = {"a": 30, "b": 60, "c": 90, "d": 40}  # minutes
STEPS = {10: 3600, 45: -3600}  # minute → wall-clock step in seconds
EXTEND_B_AT, CHECKIN_D_AT = 20, 42
END = 100
# When each overdue alarm must open, in elapsed minutes: a at its end + grace; b extended at
# 20 (when the hub's wall clock is an hour ahead, so its end had "passed") by 30 → 50 + grace;
# c untouched across both steps; d checked in within its grace: none.
EXPECTED_OPEN = {"a": 35, "b": 55, "c": 95}


def test_wall_clock_steps_neither_fire_early_nor_lose_a_timer(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, hub_config(tmp_path)).start()
        try:
            for name in VISITS:
                rig.store.save_worker(Worker(f"w-{name}", f"Worker {name}")).result()
                rig.store.assign_device(f"d-{name}", f"w-{name}").result()
            start = clock.monotonic()
            sessions = {}
            for name, minutes in VISITS.items():
                sessions[name] = await rig.visit(
                    minutes, worker_id=f"w-{name}", device_id=f"d-{name}"
                )

            async def device_event(name: str, kind: EventKind, minutes: int | None) -> None:
                event = Event(new_event_id(), kind, clock.wall_ms(), 0, minutes=minutes)
                await rig.ingest.handle(
                    str(DeviceTopic(f"d-{name}", Channel.EVENT)), event.encode()
                )
                await rig.ingest.drain()

            opened: dict[int, float] = {}  # alarm id → elapsed minutes when it opened
            for minute in range(1, END + 1):
                clock.advance(start + minute * M - clock.monotonic())
                await settle(5)
                await rig.services.escalation.drain()
                for alarm in rig.store.alarms():
                    opened.setdefault(alarm.id, minute)
                if minute in STEPS:
                    clock.step_wall(STEPS[minute])
                    await settle()
                if minute == EXTEND_B_AT:
                    await device_event("b", EventKind.SESSION_EXTEND, 30)
                if minute == CHECKIN_D_AT:
                    await device_event("d", EventKind.CHECKIN, None)

            by_session = {s.id: name for name, s in sessions.items()}
            overdue = [a for a in rig.store.alarms() if a.kind == AlarmKind.OVERDUE]
            opened_at = {by_session[a.session_id]: opened[a.id] for a in overdue}  # type: ignore[index]
            keys = Counter(s.key for s in rig.sent)
            duplicates = sum(n - 1 for n in keys.values()) + len(overdue) - len(opened_at)
            received = sum(1 for name, at in EXPECTED_OPEN.items() if opened_at.get(name) == at)
            print_counts("wall clock step", len(EXPECTED_OPEN), received, duplicates)
            assert opened_at == EXPECTED_OPEN  # none early, none late, none lost, none extra
            assert duplicates == 0

            def ladder_offsets(name: str) -> list[int]:
                alarm = next(a for a in overdue if by_session[a.session_id] == name)  # type: ignore[index]
                return sorted(
                    round((s.monotonic - start) / M) - opened[alarm.id]
                    for s in rig.sent
                    if s.alarm_id == alarm.id
                )

            window = END - EXPECTED_OPEN["b"]
            a_steps = [m for m in ladder_offsets("a") if m <= window]
            b_steps = [m for m in ladder_offsets("b") if m <= window]
            assert a_steps == b_steps  # a's ladder, stepped back at 45, keeps b's timing
            assert len(a_steps) > 3
        finally:
            await rig.stop()

    asyncio.run(scenario())
