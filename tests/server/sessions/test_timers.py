"""Session deadlines on the scheduler: rebuilt from the store at start, shifts, pre-alerts."""

from __future__ import annotations

import asyncio
from pathlib import Path

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Command, CommandOp, Event, EventKind, Link, new_event_id
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.sessions import rules
from loneguard.server.store import AlarmKind, SessionKind, SessionState
from tests.server.rig import ANN, CONTACT, DEVICE, Rig, hub_config
from tests.server.runtime_fakes import settle, until

M = 60.0


def test_a_deadline_that_passed_while_the_hub_was_down_fires_at_start(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        config = hub_config(tmp_path)
        first = await Rig(tmp_path, clock, config).start()
        await first.people()
        session = await first.visit(30)
        await first.stop()

        clock.advance(50 * M)  # down through the pre-alert, the end and the grace
        second = await Rig(tmp_path, clock, config).start()
        try:
            await until(lambda: len(second.sent) == 3)
            (alarm,) = second.store.alarms()
            assert (alarm.kind, alarm.session_id, alarm.started_ms) == (
                AlarmKind.OVERDUE,
                session.id,
                clock.wall_ms(),
            )
            assert {(s.channel, s.role) for s in second.sent} == {
                ("console", "worker"),
                ("call", "worker"),
                ("sms", "worker"),
            }
            assert second.publisher.published == []  # too late for a pre-alert
            assert second.store.session(session.id).state == SessionState.OVERDUE  # type: ignore[union-attr]
        finally:
            await second.stop()

    asyncio.run(scenario())


def test_a_shift_prealerts_then_opens_missed_checkin(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, hub_config(tmp_path)).start()
        try:
            await rig.people()
            start = clock.monotonic()
            plan = rules.SessionPlan(
                kind=SessionKind.SHIFT,
                worker_id=ANN.id,
                device_id=DEVICE,
                started_ms=clock.wall_ms(),
                grace_s=300,
                prealert_s=300,
                checkin_interval_s=3600,
            )
            session = rig.store.start_session(plan, "test").result()
            rig.services.timers.arm(session)
            clock.advance(start + 55 * M - clock.monotonic())
            await until(lambda: len(rig.publisher.published) == 1)
            topic, payload = rig.publisher.published[0]
            assert topic.endswith(f"/{DEVICE}/cmd")
            assert Command.decode(payload).op == CommandOp.PREALERT
            for minute in (60, 65):
                clock.advance(start + minute * M - clock.monotonic())
                await settle(5)
            await until(lambda: len(rig.sent) == 3)
            (alarm,) = rig.store.alarms()
            assert alarm.kind == AlarmKind.MISSED_CHECKIN and alarm.policy == "missed_checkin"
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a_session_start_from_the_device_retimes_a_planned_visit_keeping_its_contact(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, hub_config(tmp_path)).start()
        try:
            await rig.people()
            planned = await rig.visit(30)
            clock.advance(20 * 60)
            press = Event(
                id=new_event_id(),
                kind=EventKind.SESSION_START,
                ts=clock.wall_ms(),
                seq=1,
                link=Link.MQTT,
                minutes=45,
            )
            await rig.ingest.handle(str(DeviceTopic(DEVICE, Channel.EVENT)), press.encode())
            await rig.ingest.drain()
            (session,) = rig.store.sessions()
            assert session.id == planned.id
            assert (session.contact_name, session.contact_phone) == CONTACT
            assert session.address == "1 Example Road"
            assert session.expected_end_ms == clock.wall_ms() + 45 * 60_000
            assert session.state == SessionState.ACTIVE
        finally:
            await rig.stop()

    asyncio.run(scenario())
