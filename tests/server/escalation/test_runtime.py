"""The escalation runtime: the whole CIC overdue ladder on a fake clock, acknowledgement,
restart mid-ladder, and wall-clock steps."""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import replace
from pathlib import Path

from loneguard.protocol.clock import FakeClock
from loneguard.server.store import AlarmKind, AlarmState, NewNotification, NotificationState
from tests.server.rig import ANN, CONTACT, MGR, Rig, hub_config, open_alarm
from tests.server.runtime_fakes import Sent, settle, until

M = 60.0
WORKER = (ANN.name, "worker", ANN.mobile)
CONTACT_P = (CONTACT[0], "visit_contact", CONTACT[1])
HOME = (ANN.name, "worker_home", ANN.home_phone)
MANAGER = (MGR.name, "line_manager", MGR.mobile)

# The CIC home-visit ladder (App.1 3.12-3.16) for a 30-minute visit with 5 minutes' grace:
# (minutes after the visit started, channel, (name, role, phone)).
CIC_LADDER = [
    *[(35, c, WORKER) for c in ("console", "call", "sms")],  # 3.12 ring the mobile
    *[(40, c, WORKER) for c in ("console", "call", "sms")],  # 3.14 again after 5 minutes
    *[(45, c, CONTACT_P) for c in ("console", "call")],  # 3.15 the visit contact
    *[(50, c, HOME) for c in ("console", "call")],  # 3.16 the worker at home
    *[(55, c, MANAGER) for c in ("console", "call", "sms")],  # 3.16 the line manager
    *[(60, c, MANAGER) for c in ("console", "call", "sms")],  # ...reminded every 5 minutes
]


def seen(sent: list[Sent], start: float) -> Counter[tuple[float, str, tuple[str, str, str | None]]]:
    return Counter(
        (round((s.monotonic - start) / M, 3), s.channel, (s.name, s.role, s.phone)) for s in sent
    )


def expected(rows: list[tuple[int, str, tuple[str, str, str | None]]]) -> Counter[object]:
    return Counter((float(t), c, who) for t, c, who in rows)


def test_the_whole_cic_overdue_ladder_then_acknowledge_stops_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, hub_config(tmp_path)).start()
        try:
            await rig.people()
            start = clock.monotonic()
            session = await rig.visit(30)
            for minute, total in ((25, 0), (30, 0), (35, 3), (40, 6), (45, 8), (50, 10)):
                await rig.advance_to(minute * M, start, total)
            await rig.advance_to(55 * M, start, 13)
            await rig.advance_to(60 * M, start, 16)
            await settle()
            assert seen(rig.sent, start) == expected(CIC_LADDER)

            (alarm,) = rig.store.alarms()
            assert (alarm.kind, alarm.session_id, alarm.policy) == (
                AlarmKind.OVERDUE,
                session.id,
                "overdue",
            )
            assert alarm.started_ms == clock.wall_ms() - 25 * 60_000
            acked = rig.store.acknowledge_alarm(alarm.id, MGR.name, clock.wall_ms(), "t").result()
            rig.services.escalation.alarm_changed(acked)
            clock.advance(3600)
            await settle()
            assert len(rig.sent) == 16  # nothing after the acknowledgement
            assert rig.store.alarm(alarm.id).next_step_ms is None  # type: ignore[union-attr]
            rows = rig.store.notifications(alarm.id)
            assert len(rows) == 16
            # No modem rings here: each call is a task for a person on the console, pending
            # until they record how it went; never a failure, and the ladder goes on.
            calls = [r for r in rows if r.channel == "call"]
            assert {r.state for r in calls} == {NotificationState.PENDING}
            assert {r.last_result for r in calls} == {
                f"console task: ring {name} ({role}) now"
                for name, role in (
                    (ANN.name, "worker"),
                    (CONTACT[0], "visit_contact"),
                    (ANN.name, "worker_home"),
                    (MGR.name, "line_manager"),
                )
            }
            assert {r.state for r in rows if r.channel != "call"} == {NotificationState.SENT}
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_an_acknowledgement_at_a_step_stops_every_later_one(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, hub_config(tmp_path)).start()
        try:
            await rig.people()
            start = clock.monotonic()
            await rig.visit(30)
            for minute, total in ((25, 0), (30, 0), (35, 3), (40, 6)):
                await rig.advance_to(minute * M, start, total)
            (alarm,) = rig.store.alarms()
            acked = rig.store.acknowledge_alarm(alarm.id, "Office", clock.wall_ms(), "t").result()
            rig.services.escalation.alarm_changed(acked)
            for minute in range(41, 90):
                clock.advance(start + minute * M - clock.monotonic())
                await asyncio.sleep(0)
            await settle()
            assert len(rig.sent) == 6
            assert rig.store.alarm(alarm.id).state == AlarmState.ACKNOWLEDGED  # type: ignore[union-attr]
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a_new_hub_on_the_same_database_resumes_mid_ladder(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        config = hub_config(tmp_path)
        first = await Rig(tmp_path, clock, config).start()
        await first.people()
        start = clock.monotonic()
        await first.visit(30)
        for minute, total in ((25, 0), (30, 0), (35, 3), (40, 6), (45, 8)):
            await first.advance_to(minute * M, start, total)
        await first.stop()  # down from 45m, through the 50m step

        clock.advance(start + 52 * M - clock.monotonic())
        second = await Rig(tmp_path, clock, config).start()  # a new hub, the same database
        try:
            await second.advance_to(52 * M, start, 2)  # the missed 50m step, at once
            await second.advance_to(55 * M, start, 5)
            await settle()
            late = [(round((s.monotonic - start) / M), s.channel, s.role) for s in second.sent]
            assert late == [
                (52, "console", "worker_home"),
                (52, "call", "worker_home"),
                (55, "console", "line_manager"),
                (55, "call", "line_manager"),
                (55, "sms", "line_manager"),
            ]
            everything = first.sent + second.sent
            assert len({s.key for s in everything}) == len(everything)  # none sent twice
            (alarm,) = second.store.alarms()
            steps = {r.step for r in second.store.notifications(alarm.id)}
            assert steps == {0, 1, 2, 3, 4}  # none skipped
        finally:
            await second.stop()

    asyncio.run(scenario())


def test_a_wall_clock_step_neither_fires_nor_loses_a_timer(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, hub_config(tmp_path)).start()
        try:
            await rig.people()
            start = clock.monotonic()
            await rig.visit(30)
            for minute, total in ((25, 0), (30, 0), (35, 3)):
                await rig.advance_to(minute * M, start, total)
            clock.step_wall(3600)  # NTP jumps an hour ahead
            await settle()
            assert len(rig.sent) == 3  # nothing fired early
            await rig.advance_to(40 * M, start, 6)
            clock.step_wall(-7200)  # and two hours back
            await settle()
            await rig.advance_to(45 * M, start, 8)
            await settle()
            times = Counter(round((s.monotonic - start) / M) for s in rig.sent)
            assert times == {35: 3, 40: 3, 45: 2}  # each step once, on time
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_panic_notifies_everyone_at_once_and_duress_never_the_worker(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        config = hub_config(tmp_path, **{"escalation.admins": ["Office: +447700900009"]})
        rig = await Rig(tmp_path, clock, config).start()
        try:
            await rig.people()
            for kind in (AlarmKind.PANIC, AlarmKind.DURESS):
                rig.services.escalation.alarm_opened(open_alarm(rig, kind))
            await settle()
            roles = {(s.alarm_id, s.role) for s in rig.sent}
            assert {r for _, r in roles} == {"line_manager", "admins"}
            assert all(s.role != "worker" for s in rig.sent)
            assert rig.store.notifications(state=NotificationState.FAILED) == []
            gaps = rig.store.notifications(state=NotificationState.NOT_CONFIGURED)
            nobody = [r for r in gaps if r.recipient_ref == "nobody"]
            assert {r.recipient_role for r in nobody} == {"on_call"}  # recorded, not skipped
            assert {r.last_result for r in nobody} == {
                "not configured: nobody fills the role on_call"
            }
            # Nobody here has an apprise URL: those rows are not configured, never attempted;
            # the rest go out.
            assert {r.channel for r in gaps if r.recipient_ref != "nobody"} == {"apprise"}
            assert all(r.attempts == 0 for r in gaps)
            assert all(s.channel != "apprise" for s in rig.sent)
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_pending_rows_found_at_start_are_sent_again(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        config = hub_config(tmp_path)
        first = await Rig(tmp_path, clock, config).start()
        await first.people()
        alarm = open_alarm(first, AlarmKind.PANIC)
        row = NewNotification(
            key=f"{alarm.id}:0:0:line_manager:worker:w-mgr:sms",
            action_key=f"{alarm.id}:0:0",
            step=0,
            repeat=0,
            channel="sms",
            recipient_name=MGR.name,
            recipient_role="line_manager",
            recipient_ref="worker:w-mgr",
            text="PANIC",
        )
        created = first.store.add_notifications(alarm.id, [row], None, clock.wall_ms()).result()
        assert created is not None and created[0].state == NotificationState.PENDING
        await first.stop()  # as if the hub died between writing the row and sending it

        second = await Rig(tmp_path, clock, config).start()
        try:
            await until(lambda: len(second.sent) >= 1)
            await settle()
            assert [(s.key, s.phone) for s in second.sent] == [(row.key, MGR.mobile)]
            (stored,) = second.store.notifications(alarm.id)
            assert (stored.state, stored.attempts) == (NotificationState.SENT, 1)
        finally:
            await second.stop()

    asyncio.run(scenario())


def test_a_duress_text_to_the_workers_own_number_is_withheld(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, hub_config(tmp_path)).start()
        try:
            await rig.people()
            # The line manager's record carries the worker's own mobile (a shared phone, a typo).
            rig.store.save_worker(replace(MGR, mobile="07700 900001")).result()
            rig.services.escalation.alarm_opened(open_alarm(rig, AlarmKind.DURESS))
            await settle()
            assert all(s.phone != ANN.mobile for s in rig.sent if s.channel != "console")
            withheld = [
                r
                for r in rig.store.notifications(state=NotificationState.NOT_CONFIGURED)
                if r.recipient_ref == "worker:w-mgr"
            ]
            assert {(r.channel, r.last_result) for r in withheld} == {
                ("sms", "withheld: a covert alarm never contacts the worker's own phone"),
                ("apprise", "withheld: a covert alarm never contacts the worker's own phone"),
            }
            assert all(r.text == "" for r in withheld)
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a_number_an_older_hub_stored_nationally_is_texted_in_e164(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, hub_config(tmp_path)).start()
        try:
            await rig.people()
            rig.store.save_worker(replace(MGR, mobile="07700 900002")).result()  # as stored
            rig.services.escalation.alarm_opened(open_alarm(rig, AlarmKind.PANIC))
            await settle()
            [sms] = [s for s in rig.sent if s.channel == "sms"]
            assert (sms.role, sms.phone) == ("line_manager", "+447700900002")
        finally:
            await rig.stop()

    asyncio.run(scenario())
