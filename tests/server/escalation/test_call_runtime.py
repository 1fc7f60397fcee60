"""The ``call`` channel in the hub's services, through the fake modem on a pty: a call step rings,
speaks the alarm, and a 1 pressed takes charge and stops the ladder; no answer is recorded and
the ladder goes on; without a modem the step becomes a console task. Time is the fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from loneguard.gsm.fake import FakeModem
from loneguard.gsm.fake_voice import Model
from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import FakeClock
from loneguard.server.config import load_config
from loneguard.server.store import AlarmState, NotificationRow, NotificationState
from tests.server.rig import ANN, CONTACT, MGR, Rig
from tests.server.runtime_fakes import settle, until

M = 60.0
# Quick: the visit contact is rung when the alarm opens, the line manager 5 minutes later.
POLICY = """
[sessions]
grace = "0s"
prealert = "0s"

[[policies.overdue.steps]]
after = "0s"
notify = ["visit_contact"]
channels = ["call"]
message = "Ann Example is overdue from 1 Example Road."

[[policies.overdue.steps]]
after = "5m"
notify = ["line_manager"]
channels = ["call"]
message = "Ann Example is still not found."
"""


def config_for(tmp_path: Path) -> object:
    path = tmp_path / "hub.toml"
    path.write_text(POLICY)
    env = {"LONEGUARD_DB_URL": f"sqlite:///{tmp_path / 'hub.db'}", "LONEGUARD_HTTP": "127.0.0.1:0"}
    return load_config(path, env=env)


def fake_of(model: Model) -> Iterator[FakeModem]:
    with FakeModem(model=model) as fake:
        yield fake


@pytest.fixture
def sim7600() -> Iterator[FakeModem]:
    yield from fake_of("SIM7600")


@pytest.fixture
def a7670e() -> Iterator[FakeModem]:
    yield from fake_of("A7670E")


def modem_on(fake: FakeModem) -> Modem:
    return Modem(fake.path, command_timeout=2.0, slow_timeout=2.0, boot_timeout=1.0)


def sent(fake: FakeModem, prefix: str) -> bool:
    return any(c.startswith(prefix) for c in fake.commands())


def call_rows(rig: Rig, alarm_id: int) -> list[NotificationRow]:
    return [r for r in rig.store.notifications(alarm_id) if r.channel == "call"]


def first_call_state(rig: Rig, alarm_id: int) -> NotificationState | None:
    rows = call_rows(rig, alarm_id)
    return rows[0].state if rows else None


async def open_alarm(rig: Rig, clock: FakeClock) -> tuple[int, float]:
    """A 30-minute visit that runs out: the overdue alarm opens, its first step rings."""
    await rig.people()
    start = clock.monotonic()
    await rig.visit(30)
    clock.advance(30 * M)
    await until(lambda: len(rig.store.alarms()) == 1)
    return rig.store.alarms()[0].id, start


def test_dtmf_1_takes_charge_as_that_person_and_stops_the_ladder(
    tmp_path: Path, sim7600: FakeModem
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        sim7600.voice.callee(CONTACT[1], answers=True, keys="1")
        rig = await Rig(tmp_path, clock, config_for(tmp_path)).start(modem_on(sim7600))  # type: ignore[arg-type]
        try:
            alarm_id, start = await open_alarm(rig, clock)
            await until(lambda: rig.store.alarm(alarm_id).state == AlarmState.ACKNOWLEDGED)  # type: ignore[union-attr]
            alarm = rig.store.alarm(alarm_id)
            assert alarm is not None and alarm.acknowledged_by == CONTACT[0]

            (call,) = sim7600.voice.calls
            assert call.number == CONTACT[1] and call.hung_up  # dialled, and hung up after
            assert call.speech_path == "remote"  # spoken into the call, not the modem's speaker
            (spoken,) = call.spoken
            # The visit contact hears the message rendered for them (notify.messages).
            assert "we cannot reach Ann, who has not checked in after a visit" in spoken
            assert f"Press 1 now to take charge of alarm {alarm_id}." in spoken

            await until(lambda: first_call_state(rig, alarm_id) == NotificationState.SENT)
            (row,) = call_rows(rig, alarm_id)
            assert row.last_result == f"call: answered, pressed 1; {CONTACT[0]} took charge"

            clock.advance(start + 40 * M - clock.monotonic())  # past the 5-minute step
            await settle()
            assert [c.number for c in sim7600.voice.calls] == [CONTACT[1]]  # nobody else rung
            assert len(call_rows(rig, alarm_id)) == 1
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_no_answer_is_recorded_and_the_ladder_goes_on(tmp_path: Path, sim7600: FakeModem) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, config_for(tmp_path)).start(modem_on(sim7600))  # type: ignore[arg-type]
        try:
            alarm_id, start = await open_alarm(rig, clock)
            await until(lambda: sent(sim7600, f"ATD{CONTACT[1]};"))
            await until(lambda: sent(sim7600, "AT+CLCC"))  # ringing, followed
            clock.advance(45)  # modem.ring_time: nobody answers
            await until(lambda: first_call_state(rig, alarm_id) == NotificationState.FAILED)
            (row,) = call_rows(rig, alarm_id)
            assert row.last_result == "call: no answer (rang 45 s, no answer)"
            assert sim7600.voice.calls[0].hung_up and sim7600.voice.calls[0].spoken == []
            assert rig.store.alarm(alarm_id).state == AlarmState.OPEN  # type: ignore[union-attr]

            clock.advance(start + 30 * M + 5 * M - clock.monotonic())  # the next step
            await until(lambda: len(sim7600.voice.calls) == 2)
            assert sim7600.voice.calls[1].number == MGR.mobile
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a7670e_speaks_but_cannot_read_keys_so_the_ladder_goes_on(
    tmp_path: Path, a7670e: FakeModem
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        a7670e.voice.callee(CONTACT[1], answers=True, keys="1")
        rig = await Rig(tmp_path, clock, config_for(tmp_path)).start(modem_on(a7670e))  # type: ignore[arg-type]
        try:
            alarm_id, _ = await open_alarm(rig, clock)
            await until(lambda: first_call_state(rig, alarm_id) == NotificationState.SENT)
            (row,) = call_rows(rig, alarm_id)
            assert row.last_result == "call: answered"
            (spoken,) = a7670e.voice.calls[0].spoken
            assert f"reply ACK {alarm_id} by text" in spoken and "Press 1" not in spoken
            assert rig.store.alarm(alarm_id).state == AlarmState.OPEN  # type: ignore[union-attr]
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_without_a_modem_a_call_step_is_a_console_task(tmp_path: Path) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        rig = await Rig(tmp_path, clock, config_for(tmp_path)).start()
        try:
            alarm_id, _ = await open_alarm(rig, clock)
            await until(lambda: any(r.attempts for r in call_rows(rig, alarm_id)))
            (row,) = call_rows(rig, alarm_id)
            assert row.state == NotificationState.PENDING  # waiting for a person, not failed
            assert row.last_result == f"console task: ring {CONTACT[0]} (visit_contact) now"
            assert ANN.mobile not in (row.last_result or "")
        finally:
            await rig.stop()

    asyncio.run(scenario())
