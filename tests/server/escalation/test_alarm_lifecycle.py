"""An alarm's life after it opens: a late check-in stops the overdue ladder (the alarm waits for
a person), and acknowledging and resolving a panic reach the unit; a duress never does."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Ack, AckStatus, Event, EventKind
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.console import views
from loneguard.server.store import AlarmKind, AlarmState, SessionState
from tests.server.rig import DEVICE, MGR, Rig, hub_config
from tests.server.runtime_fakes import settle, until

M = 60.0


async def press(rig: Rig, kind: EventKind, seq: int) -> Event:
    event = Event(str(uuid.uuid4()), kind, rig.clock.wall_ms(), seq=seq)
    await rig.ingest.handle(str(DeviceTopic(DEVICE, Channel.EVENT)), event.encode())
    await rig.ingest.drain()
    return event


@asynccontextmanager
async def hub_with_people(tmp_path: Path, **values: object) -> AsyncIterator[Rig]:
    rig = await Rig(tmp_path, FakeClock(), hub_config(tmp_path, **values)).start()
    try:
        await rig.people()
        yield rig
    finally:
        await rig.stop()


def acks_to_unit(rig: Rig) -> list[Ack]:
    topic = str(DeviceTopic(DEVICE, Channel.ACK))
    return [Ack.decode(p) for t, p in rig.publisher.published if t == topic]


def test_a_late_checkin_stops_the_overdue_ladder_and_the_alarm_waits_for_a_person(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with hub_with_people(tmp_path) as rig:
            clock = rig.clock
            start = clock.monotonic()
            session = await rig.visit(30)
            await rig.advance_to(35 * M, start, 3)  # step 1: ring the worker (3 channels)
            await rig.advance_to(38 * M, start, 3)
            checkin = await press(rig, EventKind.CHECKIN, 1)
            (alarm,) = rig.store.alarms()
            assert alarm.checked_in_ms == checkin.ts
            assert alarm.checked_in_device == DEVICE
            assert alarm.state == AlarmState.OPEN and alarm.next_step_ms is None
            ended = rig.store.session(session.id)
            assert ended is not None and ended.state == SessionState.ENDED
            for minute in range(39, 120):  # every later step, and the manager's repeats
                clock.advance(start + minute * M - clock.monotonic())
                await asyncio.sleep(0)
            await settle()
            assert len(rig.sent) == 3  # no notification after the check-in
            assert len(rig.store.notifications(alarm.id)) == 3
            still = rig.store.alarm(alarm.id)
            assert still is not None and still.state == AlarmState.OPEN  # a person resolves it
            told = [e for e in views.timeline(rig.store, still) if e.what == "checked in"]
            assert [(e.at_ms, e.detail) for e in told] == [
                (checkin.ts, f"the worker checked in from {DEVICE}: the escalation stopped")
            ]

    asyncio.run(scenario())


def test_a_checkin_after_a_panic_does_not_stop_its_ladder(tmp_path: Path) -> None:
    async def scenario() -> None:
        admins = {"escalation.admins": ["Office: +447700900009"]}
        async with hub_with_people(tmp_path, **admins) as rig:
            await press(rig, EventKind.PANIC, 1)
            await until(lambda: len(rig.sent) > 0)
            await press(rig, EventKind.CHECKIN, 2)  # perhaps forced: it answers nothing
            (alarm,) = rig.store.alarms()
            assert alarm.kind == AlarmKind.PANIC and alarm.checked_in_ms is None

    asyncio.run(scenario())


def test_taking_charge_of_and_resolving_a_panic_reach_the_unit_and_a_duress_never(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        async with hub_with_people(tmp_path) as rig:
            panic = await press(rig, EventKind.PANIC, 1)
            duress = await press(rig, EventKind.DURESS, 2)
            assert [(a.ref, a.status) for a in acks_to_unit(rig)] == [
                (panic.id, AckStatus.HELP_COMING),
                (duress.id, AckStatus.RECEIVED),  # exactly as a check-in
            ]
            by_kind = {a.kind: a for a in rig.store.alarms()}
            for alarm in by_kind.values():
                taken = rig.store.acknowledge_alarm(alarm.id, MGR.name, 1, "t").result()
                rig.services.alarm_changed(taken)
                done = rig.store.resolve_alarm(alarm.id, MGR.name, "worker safe", "ok", 2, "t")
                rig.services.alarm_changed(done.result())
            await until(lambda: len(acks_to_unit(rig)) == 4)
            await settle()
            assert [(a.ref, a.status) for a in acks_to_unit(rig)[2:]] == [
                (panic.id, AckStatus.HELP_COMING),
                (panic.id, AckStatus.RESOLVED),
            ]

    asyncio.run(scenario())


def test_a_hub_started_after_the_checkin_sends_nothing_more(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        config = hub_config(tmp_path)
        first = await Rig(tmp_path, clock, config).start()
        try:
            await first.people()
            start = clock.monotonic()
            await first.visit(30)
            await first.advance_to(35 * M, start, 3)
            await press(first, EventKind.CHECKIN, 1)
        finally:
            await first.stop()
        clock.advance(start + 90 * M - clock.monotonic())  # the hub was down past every step
        second = await Rig(tmp_path, clock, config).start()  # resumes every open ladder
        try:
            await settle()
            assert second.sent == []
            (alarm,) = second.store.alarms()
            assert alarm.state == AlarmState.OPEN and len(second.store.notifications()) == 3
        finally:
            await second.stop()

    asyncio.run(scenario())
