"""The ``arc`` channel in the escalation runtime, on a fake clock with a stand-in ARC link:
one ARC message per alarm whatever the recipients and repeats, never cancelled by taking
charge, a restoral on resolve, and silence on a hub with no ARC."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Ack, AckStatus, Event, EventKind, Location
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.arc.events import ArcLinkState
from loneguard.server.store import Alarm, AlarmKind, AlarmState, NotificationState
from loneguard.server.store.arc_records import NewArcMessage
from tests.server.fake_arc_sink import FakeArcSink
from tests.server.rig import ANN, DEVICE, MGR, Rig, hub_config, overdue_ladder_toml
from tests.server.runtime_fakes import settle, until

M = 60.0
OFFICE = {"escalation.admins": ["Office: +447700900009", "Deputy: +447700900008"]}
FIX = Location(51.5014, -0.1419, 12.0)


async def press(rig: Rig, kind: EventKind, seq: int, location: Location | None = None) -> Event:
    event = Event(str(uuid.uuid4()), kind, rig.clock.wall_ms(), seq=seq, location=location)
    await rig.ingest.handle(str(DeviceTopic(DEVICE, Channel.EVENT)), event.encode())
    await rig.ingest.drain()
    return event


@asynccontextmanager
async def hub(tmp_path: Path, arc: FakeArcSink | None, **values: object) -> AsyncIterator[Rig]:
    config = hub_config(tmp_path, **values)
    rig = await Rig(tmp_path, FakeClock(), config, arc=arc).start()
    try:
        await rig.people()
        yield rig
    finally:
        await rig.stop()


def arc_rows(rig: Rig, alarm_id: int) -> list[tuple[str, NotificationState, str | None]]:
    return [
        (r.key, r.state, r.last_result)
        for r in rig.store.notifications(alarm_id)
        if r.channel == "arc"
    ]


async def panic_handed_to(rig: Rig, arc: FakeArcSink) -> Alarm:
    """A panic, once its ARC row holds how the link's first round went."""
    await press(rig, EventKind.PANIC, 1)
    await until(lambda: len(arc.delivered) == 1)  # so the row is written
    (alarm,) = rig.store.alarms()
    await until(lambda: arc_rows(rig, alarm.id)[0][2] is not None)
    return alarm


def texts(rig: Rig) -> int:
    return sum(s.channel == "sms" for s in rig.sent)


def test_a_panic_goes_to_the_arc_once_whoever_is_told_and_however_often(tmp_path: Path) -> None:
    async def scenario() -> None:
        arc = FakeArcSink()
        async with hub(tmp_path, arc, **OFFICE) as rig:
            start = rig.clock.monotonic()
            await press(rig, EventKind.PANIC, 1, FIX)
            await until(lambda: len(arc.delivered) == 1)
            # The panic step repeats every 2 minutes, by SMS to the manager and the office's two.
            for repeat in range(1, 6):
                rig.clock.advance(start + 2 * repeat * M - rig.clock.monotonic())
                await until(lambda n=repeat: texts(rig) == 3 * (n + 1))
            await settle()
            (alarm,) = rig.store.alarms()
            (event,) = arc.delivered
            assert (event.key, event.alarm_id, event.alarm_kind, event.event) == (
                f"alarm:{alarm.id}:open",
                alarm.id,
                "panic",
                "open",
            )
            assert (event.worker_id, event.device_id, event.location) == (
                ANN.id,
                DEVICE,
                (FIX.lat, FIX.lon),
            )
            assert event.occurred_ms == alarm.started_ms
            assert arc_rows(rig, alarm.id) == [
                (f"alarm:{alarm.id}:open", NotificationState.SENT, "acked by the primary receiver")
            ]
            assert [s.channel for s in rig.sent].count("arc") == 1

    asyncio.run(scenario())


def test_an_unacked_arc_message_is_left_to_the_link_and_taking_charge_does_not_stop_it(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        arc = FakeArcSink(acks=False)
        async with hub(tmp_path, arc, **OFFICE) as rig:
            alarm = await panic_handed_to(rig, arc)
            # Not failed: the link keeps sending until the ARC acks. The dispatcher's own
            # retries (30 s, doubling) would have come round many times in an hour.
            assert arc_rows(rig, alarm.id) == [
                (
                    f"alarm:{alarm.id}:open",
                    NotificationState.PENDING,
                    "primary: timeout; backup: refused",
                )
            ]
            taken = rig.store.acknowledge_alarm(alarm.id, MGR.name, rig.clock.wall_ms(), "t")
            rig.services.alarm_changed(taken.result())
            rig.clock.advance(3600)
            await settle()
            assert len(arc.delivered) == 1 and arc.enqueued == []  # no restoral: still open
            assert rig.services.dispatcher.failures == 0

    asyncio.run(scenario())


def test_resolving_sends_the_restoral_and_a_duress_reaches_the_arc_but_not_the_unit(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        arc = FakeArcSink()
        async with hub(tmp_path, arc, **OFFICE) as rig:
            duress = await press(rig, EventKind.DURESS, 1)
            await until(lambda: len(arc.delivered) == 1)
            (alarm,) = rig.store.alarms()
            assert arc.delivered[0].alarm_kind == "duress"  # Contact ID 121 at the ARC
            taken = rig.store.acknowledge_alarm(alarm.id, MGR.name, rig.clock.wall_ms(), "t")
            rig.services.alarm_changed(taken.result())
            await settle()
            assert arc.enqueued == []  # taken in charge is not over
            at = rig.clock.wall_ms() + 5000
            done = rig.store.resolve_alarm(alarm.id, MGR.name, "worker safe", "ok", at, "t")
            rig.services.alarm_changed(done.result())
            (restoral,) = arc.enqueued
            assert (restoral.key, restoral.event, restoral.alarm_kind, restoral.occurred_ms) == (
                f"alarm:{alarm.id}:restore",
                "restore",
                "duress",
                at,
            )
            acks = [
                Ack.decode(p)
                for t, p in rig.publisher.published
                if t == str(DeviceTopic(DEVICE, Channel.ACK))
            ]
            assert [(a.ref, a.status) for a in acks] == [(duress.id, AckStatus.RECEIVED)]

    asyncio.run(scenario())


def test_an_overdue_visit_goes_to_the_arc_when_its_alarm_starts(tmp_path: Path) -> None:
    async def scenario() -> None:
        arc = FakeArcSink()
        async with hub(tmp_path, arc) as rig:
            start = rig.clock.monotonic()
            await rig.visit(30)
            await rig.advance_to(34 * M, start, 0)
            assert arc.delivered == []  # within the grace: nobody is told, the ARC neither
            await rig.advance_to(35 * M, start, 4)  # the worker rung (3 channels), and the ARC
            (alarm,) = rig.store.alarms()
            assert alarm.kind == AlarmKind.OVERDUE
            assert [(e.alarm_kind, e.event, e.worker_id) for e in arc.delivered] == [
                ("overdue", "open", ANN.id)
            ]
            assert arc.delivered[0].location is None  # an overdue visit carries no fix

    asyncio.run(scenario())


def test_a_late_checkin_restores_the_overdue_at_the_arc_while_the_office_looks_into_it(
    tmp_path: Path,
) -> None:
    """The ARC, told the worker failed to report in (102), is told at once when they check in
    (3102), so it does not send help to a worker who is safe; the office's alarm stays open
    for a person, and resolving it sends no second restoral."""

    async def scenario() -> None:
        arc = FakeArcSink()
        async with hub(tmp_path, arc) as rig:
            start = rig.clock.monotonic()
            await rig.visit(30)
            await rig.advance_to(35 * M, start, 4)
            rig.clock.advance(3 * M)
            checkin = await press(rig, EventKind.CHECKIN, 1)
            await settle()
            (alarm,) = rig.store.alarms()
            assert alarm.state == AlarmState.OPEN  # the office still looks into it
            (restoral,) = arc.enqueued
            assert (restoral.key, restoral.alarm_kind, restoral.occurred_ms) == (
                f"alarm:{alarm.id}:restore",
                "overdue",
                checkin.ts,
            )
            at = rig.clock.wall_ms()
            done = rig.store.resolve_alarm(
                alarm.id, MGR.name, "was stuck in traffic", "ok", at, "t"
            )
            rig.services.alarm_changed(done.result())
            await settle()
            # The link keeps one message per key: a second hand-over of the same restoral
            # (the real link's add is idempotent) names the check-in, not the resolve.
            assert {(e.key, e.occurred_ms) for e in arc.enqueued} == {
                (f"alarm:{alarm.id}:restore", checkin.ts)
            }

    asyncio.run(scenario())


def test_with_no_arc_configured_the_shipped_policies_are_silent_about_it(tmp_path: Path) -> None:
    async def scenario() -> None:
        for arc in (None, FakeArcSink(configured=False)):
            folder = tmp_path / ("none" if arc is None else "unconfigured")
            folder.mkdir()
            async with hub(folder, arc, **OFFICE) as rig:
                await press(rig, EventKind.PANIC, 1)
                await until(lambda: len(rig.sent) >= 4)
                await settle()
                (alarm,) = rig.store.alarms()
                assert arc_rows(rig, alarm.id) == []
                assert [g for g in rig.services.channel_health() if g.channel == "arc"] == []
                done = rig.store.resolve_alarm(alarm.id, MGR.name, "false alarm", "x", 1, "t")
                rig.services.alarm_changed(done.result())
                assert arc is None or arc.delivered == arc.enqueued == []

    asyncio.run(scenario())


def test_a_configured_policy_naming_arc_without_an_arc_is_a_gap_and_a_not_configured_row(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        policies = overdue_ladder_toml([0], "worker", "console").replace(
            'channels = ["console"]', 'channels = ["console", "arc"]'
        )
        config = hub_config(tmp_path, toml=policies)
        rig = await Rig(tmp_path, FakeClock(), config).start()
        try:
            await rig.people()
            gaps = [g.line() for g in rig.services.channel_health() if g.channel == "arc"]
            assert gaps == [
                "arc to the ARC: no ARC is configured (arc.primary) (in overdue step 1)"
            ]
            start = rig.clock.monotonic()
            await rig.visit(30)
            await rig.advance_to(35 * M, start, 1)
            (alarm,) = rig.store.alarms()
            assert arc_rows(rig, alarm.id) == [
                (
                    f"alarm:{alarm.id}:open",
                    NotificationState.NOT_CONFIGURED,
                    "not configured: no ARC is configured (arc.primary)",
                )
            ]
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a_pending_arc_row_of_an_alarm_taken_in_charge_is_handed_over_again_at_start(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        config = hub_config(tmp_path, **OFFICE)
        first = await Rig(tmp_path, clock, config, arc=FakeArcSink(acks=False)).start()
        try:
            await first.people()
            await press(first, EventKind.PANIC, 1)
            (alarm,) = first.store.alarms()
            await until(lambda: bool(arc_rows(first, alarm.id)) and first.sent != [])
            await until(lambda: arc_rows(first, alarm.id)[0][2] is not None)
            taken = first.store.acknowledge_alarm(alarm.id, MGR.name, clock.wall_ms(), "t")
            first.services.alarm_changed(taken.result())
        finally:
            await first.stop()
        arc = FakeArcSink()  # the link, after the restart, has it acked
        second = await Rig(tmp_path, clock, config, arc=arc).start()
        try:
            await until(lambda: len(arc.delivered) == 1)
            await until(lambda: arc_rows(second, alarm.id)[0][1] == NotificationState.SENT)
            assert arc.delivered[0].key == f"alarm:{alarm.id}:open"
            assert [s.channel for s in second.sent] == ["arc"]  # nothing else resent
        finally:
            await second.stop()

    asyncio.run(scenario())


def test_a_step_telling_nobody_may_name_arc_and_it_counts_as_done(tmp_path: Path) -> None:
    async def scenario() -> None:
        toml = (
            "[policies.overdue]\nsteps = [\n"
            '{ after = "0s", notify = [], channels = ["arc"], message = "to the ARC" },\n'
            '{ after = "1m", repeat_every = "1m", notify = [], channels = ["console"],'
            ' message = "still overdue" },\n]\n'
        )
        arc = FakeArcSink()
        config = hub_config(tmp_path, toml=toml)
        rig = await Rig(tmp_path, FakeClock(), config, arc=arc).start()
        try:
            await rig.people()
            start = rig.clock.monotonic()
            await rig.visit(30)
            await rig.advance_to(35 * M, start, 1)
            for minute in range(36, 41):
                await rig.advance_to(minute * M, start, 1 + minute - 35)
            await settle()
            (alarm,) = rig.store.alarms()
            assert len(arc.delivered) == 1
            assert [s.channel for s in rig.sent] == ["arc"] + ["console"] * 5
            assert "0" in {k.rsplit(":", 2)[-2] for k in rig.store.action_keys(alarm.id)}
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a_pending_arc_row_is_recorded_sent_once_the_link_has_its_message_acked(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        arc = FakeArcSink(acks=False)
        async with hub(tmp_path, arc, **OFFICE) as rig:
            alarm = await panic_handed_to(rig, arc)
            assert arc_rows(rig, alarm.id)[0][1] == NotificationState.PENDING
            arc.change(ArcLinkState(configured=True, up=True, last_ack_ms=1))
            await settle()
            assert len(arc.delivered) == 1  # the link's store has no ack yet: nothing asked
            # The link's next round is acked: its store says so, and it tells its listeners.
            stored, _ = rig.store.add_arc_message(
                NewArcMessage(arc.delivered[0].key, alarm.id, 1, 120, 1, "1234", 1), 1
            ).result()
            rig.store.record_arc_round(stored.id, "backup", None, 2).result()
            arc.acks = True
            arc.change(ArcLinkState(configured=True, up=True, last_ack_ms=2))
            await until(lambda: arc_rows(rig, alarm.id)[0][1] == NotificationState.SENT)
            assert len(arc.delivered) == 2  # asked once more, answered from its store
            told = [e for e in rig.store.audit(50) if e.action == "notify.attempt"]
            arc_attempts = [e.detail["attempt"] for e in told if e.detail["channel"] == "arc"]
            assert sorted(arc_attempts) == [1, 2]

    asyncio.run(scenario())
