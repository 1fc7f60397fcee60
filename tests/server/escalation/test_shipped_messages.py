"""Every shipped policy, walked on the hub's real runtime with the fake modem on a pty: each SMS
its steps send, as the recipient's phone shows it once the network has joined the parts.

A responder's SMS names the worker, says where (the address, a map link, or "No location"),
and says how to take charge (ACK <id>), in at most 3 parts. The worker's own SMS speaks to the
worker. No duress text reaches the worker's number.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from loneguard.gsm.fake import FakeModem
from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind, Location
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.escalation.notify.messages import map_link
from loneguard.server.escalation.policy import DEFAULT_POLICIES
from loneguard.server.store import Alarm, AlarmKind, NotificationState
from tests.server.rig import ANN, DEVICE, MGR, Rig, hub_config
from tests.server.runtime_fakes import settle, until

M = 60.0
OFFICE = "+447700900009"  # configured as "07700 900009": read in the default region
ON_CALL = "+447700900010"
ADDRESS = "1 Example Road"  # the rig's visit
WHERE = (ADDRESS, "https://www.openstreetmap.org/?mlat=", "No location")
FIX = Location(53.80076, -1.54908, 12.0)
SLOW = 30.0  # every SMS crosses a pty to the fake modem: a loaded machine can take a while


@pytest.fixture
def fake() -> Iterator[FakeModem]:
    with FakeModem() as modem:
        yield modem


async def _walk(rig: Rig, fake: FakeModem, policy: str) -> Alarm:
    """Open an alarm under ``policy`` the way the hub would, and walk its whole ladder."""
    clock = rig.clock
    start = clock.monotonic()
    session = await rig.visit(30)
    if policy == "overdue":
        for minute in range(25, 36):  # the pre-alert, the due time, then due + grace
            clock.advance(start + minute * M - clock.monotonic())
            await settle(3)
        await until(lambda: bool(rig.store.alarms()), timeout=SLOW)
    elif policy in ("panic", "duress"):
        kind = EventKind.PANIC if policy == "panic" else EventKind.DURESS
        event = Event(str(uuid.uuid4()), kind, clock.wall_ms(), seq=1, location=FIX)
        await rig.ingest.handle(str(DeviceTopic(DEVICE, Channel.EVENT)), event.encode())
        await rig.ingest.drain()
    else:
        # A shift type's policy (home_working) is a missed check-in's, like missed_checkin.
        kind = AlarmKind.MISSED_CHECKIN if policy == "home_working" else AlarmKind(policy)
        opened = rig.store.open_session_alarm(session.id, kind, policy, clock.wall_ms()).result()
        assert opened is not None
        rig.services.escalation.alarm_opened(opened)
    [alarm] = rig.store.alarms()
    assert alarm.policy == policy
    steps = DEFAULT_POLICIES[policy].steps
    last = steps[-1].after + 2 * (steps[-1].repeat_every or 0)
    began = clock.monotonic()
    for second in range(0, int(last) + 61, 30):
        clock.advance(began + second - clock.monotonic())
        await settle(3)
        await until(lambda: rig.services.dispatcher.pending() == 0, timeout=SLOW)
    # Every send done; a call step stays pending as a console task for a person to ring.
    await until(
        lambda: all(
            r.channel == "call" for r in rig.store.notifications(state=NotificationState.PENDING)
        ),
        timeout=SLOW,
    )
    return alarm


@pytest.mark.parametrize("policy", sorted(DEFAULT_POLICIES))
def test_every_sms_of_every_shipped_step_carries_who_where_and_how_to_take_charge(
    tmp_path: Path, fake: FakeModem, policy: str
) -> None:
    async def scenario() -> None:
        clock = FakeClock()
        config = hub_config(
            tmp_path,
            **{
                "escalation.admins": ["Office: 07700 900009"],
                "escalation.on_call": [f"On call: {ON_CALL}"],
                # Calls ring through this modem too (tests/server/escalation/test_call_runtime.py);
                # here the call steps are console tasks, so the modem carries the SMS alone.
                "modem.calls": False,
            },
        )
        modem = Modem(fake.path, command_timeout=2.0, slow_timeout=2.0, clock=FakeClock())
        rig = await Rig(tmp_path, clock, config).start(modem)
        try:
            await rig.people()
            alarm = await _walk(rig, fake, policy)
            sms_rows = [r for r in rig.store.notifications(alarm.id) if r.channel == "sms"]
            steps_with_sms = {
                i for i, s in enumerate(DEFAULT_POLICIES[policy].steps) if "sms" in s.channels
            }
            assert {r.step for r in sms_rows} == steps_with_sms  # every SMS step was walked
            assert all(r.state == NotificationState.SENT for r in sms_rows), [
                (r.recipient_role, r.state, r.last_result) for r in sms_rows
            ]
            texts = fake.sent_messages
            assert len(texts) == len(sms_rows)  # each row arrived whole, once
            by_number: dict[str, list[str]] = {}
            for message in texts:
                assert message.parts <= 3, message.text
                by_number.setdefault(message.number, []).append(message.text)

            for number, received in by_number.items():
                for text in received:
                    if number == ANN.mobile:  # the worker's own phone
                        assert policy != "duress"
                        assert text.startswith("Ann, you"), text
                        assert "ACK" not in text
                        if policy == "overdue":
                            assert text.startswith(f"Ann, you are overdue from {ADDRESS}")
                            assert "Press check-in if you are safe" in text
                        continue
                    assert number in (MGR.mobile, OFFICE, ON_CALL)
                    assert ANN.name in text, text
                    assert any(where in text for where in WHERE), text
                    assert f"Reply ACK {alarm.id} to take charge" in text, text
                    assert "..." not in text, text  # the shipped guidance fits, uncut
                    if policy == "duress":
                        assert "COVERT" in text
            if policy == "duress":
                assert ANN.mobile not in by_number
                assert all(ANN.mobile != number for number, _ in fake.sent)
            if policy in ("panic", "duress"):  # the fix the device sent with the alarm
                link = map_link(FIX.lat, FIX.lon)
                assert all(link in t for n, ts in by_number.items() for t in ts), by_number
            if policy in ("overdue", "device_offline", "missed_checkin"):
                assert ANN.mobile in by_number  # the worker is texted first
        finally:
            await rig.stop()

    asyncio.run(scenario())
