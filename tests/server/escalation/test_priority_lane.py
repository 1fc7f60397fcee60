"""A panic is not queued behind a flood of other alarms: when the SMS channel is busy, the
panic's text is the next one sent, ahead of the overdue alarms' texts already waiting."""

from __future__ import annotations

import asyncio
from pathlib import Path

from loneguard.protocol.clock import FakeClock
from loneguard.server.escalation.notify.notification import DeliveryResult, Notification, Recipient
from loneguard.server.escalation.notify.sms_channel import sms_gap
from loneguard.server.store import AlarmKind
from tests.server.rig import Rig, hub_config, open_alarm
from tests.server.runtime_fakes import settle, until

OVERDUE = 5


class BusyModem:
    """An SMS channel whose texts all wait until the test lets them go; notes whom each text
    it started was for, in order."""

    name = "sms"

    def __init__(self) -> None:
        self.started: list[tuple[int, str]] = []
        self.release = asyncio.Event()

    async def send(self, n: Notification) -> DeliveryResult:
        self.started.append((n.alarm_id, n.recipient.role))
        await self.release.wait()
        return DeliveryResult(True, "delivered")

    def gap(self, recipient: Recipient) -> str | None:
        return sms_gap(recipient)


def test_a_panic_text_goes_ahead_of_the_overdue_texts_waiting_for_the_modem(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        modem = BusyModem()
        rig = Rig(tmp_path, FakeClock(), hub_config(tmp_path, **{"escalation.send_slots": 1}))
        await rig.start(sms_stand_in=False, stand_ins={"sms": modem})
        try:
            await rig.people()
            overdue = [open_alarm(rig, AlarmKind.OVERDUE) for _ in range(OVERDUE)]
            for alarm in overdue:
                rig.services.escalation.alarm_opened(alarm)
            await until(lambda: len(modem.started) == 1)  # the one text the modem takes at once
            panic = open_alarm(rig, AlarmKind.PANIC)
            rig.services.escalation.alarm_opened(panic)
            await until(lambda: rig.services.dispatcher.pending(panic.id) > 0)
            await settle()
            assert modem.started == [(overdue[0].id, "worker")]
            modem.release.set()
            await until(lambda: len(modem.started) == OVERDUE + 1)
            # Next after the text already under way: the panic's, to the line manager.
            assert modem.started[1] == (panic.id, "line_manager")
            assert [a for a, _ in modem.started[2:]] == [a.id for a in overdue[1:]]
        finally:
            await rig.stop()

    asyncio.run(scenario())
