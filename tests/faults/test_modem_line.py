"""The hub modem's serial line closed and reopened while devices' fallback SMS keep coming.

The real ``Modem`` driver and the hub's SMS gateway run against the fake modem on a pty (the
only simulated part: hardware). Lines arrive before, while and after the line is gone; the SIM
keeps what arrives meanwhile, and the gateway, once it has recovered the modem, reads it. Every
fallback line becomes one stored event and every panic one alarm: the SIM sweep may hand a line
over twice, and ingest's dedupe on the event id must absorb it.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from loneguard.gsm.fake import FakeModem
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind
from loneguard.protocol.sms import FallbackLine
from tests.faults.harness import count_delivery
from tests.server.rig import ANN, DEVICE, Rig, hub_config
from tests.server.runtime_fakes import until
from tests.server.sms.test_sms_runtime import SECRET, modem_on

BEFORE, WHILE_CLOSED, AFTER = 4, 4, 4


def test_fallback_sms_survive_the_serial_line_closing(tmp_path: Path) -> None:
    sent: list[Event] = []

    def deliver(fake: FakeModem, clock: FakeClock, count: int) -> None:
        for _ in range(count):
            kind = EventKind.PANIC if len(sent) % 3 == 0 else EventKind.CHECKIN
            line = FallbackLine(DEVICE, kind, str(uuid.uuid4()), clock.wall_ms())
            sent.append(line.to_event())
            fake.deliver_sms(ANN.mobile or "", line.encode(SECRET.encode()))

    async def scenario(fake: FakeModem) -> None:
        clock = FakeClock()
        modem = modem_on(fake)
        rig = await Rig(tmp_path, clock, hub_config(tmp_path)).start(modem)
        try:
            await rig.people()
            rig.store.set_device_secret(DEVICE, SECRET, "test").result()
            gateway = rig.services.gateway
            assert gateway is not None
            await until(lambda: "AT+CNMI=2,1,0,0,0" in fake.commands())

            def stored() -> int:
                return len(rig.store.events(limit=1000, device_id=DEVICE))

            deliver(fake, clock, BEFORE)
            await until(lambda: stored() == BEFORE and not fake.inbox)

            fake.close_line()
            await until(lambda: gateway.modem_errors >= 1)
            deliver(fake, clock, WHILE_CLOSED)  # kept on the SIM, announced to nobody
            assert stored() == BEFORE
            fake.reopen_line()

            def back() -> bool:
                clock.advance(60.0)  # ends the gateway's wait before its next recovery
                return modem.health == "ok" and stored() == BEFORE + WHILE_CLOSED

            await until(back, timeout=20)
            deliver(fake, clock, AFTER)
            await until(lambda: stored() == len(sent) and not fake.inbox, timeout=20)
            await asyncio.sleep(0)  # let any late double reach the store
            await rig.ingest.drain()

            total, received, duplicates = count_delivery(rig.store, sent, label="modem line")
            assert total == BEFORE + WHILE_CLOSED + AFTER
            assert received == total, "fallback lines lost"
            assert duplicates == 0, "fallback lines doubled"
            assert gateway.modem_errors >= 1  # the line really broke
        finally:
            await rig.stop()

    with FakeModem() as fake:
        asyncio.run(scenario(fake))
