"""Channel health: steps the hub cannot send are reported at start and on the console, and their
rows are stored as not configured, never as failed deliveries."""

from __future__ import annotations

import asyncio
import logging
import uuid
from pathlib import Path

import pytest

from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.store import NotificationState
from tests.server.rig import DEVICE, Rig, hub_config
from tests.server.runtime_fakes import settle, until

NO_MODEM = "sms to every recipient: no modem is configured (modem.port)"


def test_a_hub_without_a_modem_says_so_at_start_and_records_sms_as_not_configured(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario() -> None:
        caplog.set_level(logging.INFO)
        clock = FakeClock()
        config = hub_config(tmp_path, **{"escalation.admins": ["Office: 07700 900009"]})
        rig = await Rig(tmp_path, clock, config).start(sms_stand_in=False)
        try:
            await rig.people()
            lines = [g.line() for g in rig.services.channel_health()]
            [sms] = [line for line in lines if line.startswith("sms")]
            assert sms.startswith(NO_MODEM)
            assert "overdue step 1" in sms and "panic step 1" in sms and "duress step 1" in sms
            # At start, before anyone was added: the same, in the log, without names or numbers.
            logged = [r.getMessage() for r in caplog.records if r.name.endswith("health")]
            assert any(NO_MODEM in m for m in logged)
            assert not any("0770" in m or "+44" in m for m in logged)
            # Nobody is on call and the manager has no line manager above him: said, by role.
            assert any(
                line.startswith("call to on_call: nobody is configured (escalation.on_call)")
                for line in lines
            )
            assert any(
                line.startswith("apprise to admins: 1 of 1 configured: no apprise URL for admins")
                for line in lines
            )

            event = Event(str(uuid.uuid4()), EventKind.PANIC, clock.wall_ms(), seq=1)
            await rig.ingest.handle(str(DeviceTopic(DEVICE, Channel.EVENT)), event.encode())
            await rig.ingest.drain()
            await until(lambda: bool(rig.store.alarms()))
            await settle()
            rows = rig.store.notifications(rig.store.alarms()[0].id)
            sms_rows = [r for r in rows if r.channel == "sms"]
            assert all(r.state == NotificationState.NOT_CONFIGURED for r in sms_rows)
            assert {r.last_result for r in sms_rows if r.recipient_ref != "nobody"} == {
                "not configured: no modem is configured (modem.port)"
            }
            assert all(r.attempts == 0 for r in sms_rows)
            assert not [r for r in rows if r.state == NotificationState.FAILED]
            assert all(s.channel == "console" for s in rig.sent)  # nothing else attempted
        finally:
            await rig.stop()

    asyncio.run(scenario())


def test_a_worker_without_a_mobile_is_counted_and_cleared_once_a_number_is_added(
    tmp_path: Path,
) -> None:
    async def scenario() -> None:
        rig = await Rig(tmp_path, FakeClock(), hub_config(tmp_path)).start()
        try:
            await rig.people()
            ann = rig.store.worker("w-ann")
            assert ann is not None
            rig.store.save_worker(ann.__class__(**{**ann.__dict__, "mobile": None})).result()
            lines = [g.line() for g in rig.services.channel_health()]
            assert any(
                line.startswith("sms to worker: 1 of 2 workers: no phone number for worker")
                for line in lines
            ), lines
            banner = rig.services.channel_gap_lines()
            assert any(line.startswith("sms to worker:") for line in banner)
            rig.store.save_worker(ann).result()
            lines = [g.line() for g in rig.services.channel_health()]
            assert not any(line.startswith("sms to worker:") for line in lines)
            # The banner asks again at most every 10 s (each page asks).
            assert rig.services.channel_gap_lines() == banner
            rig.clock.advance(10)
            assert not any(
                line.startswith("sms to worker:") for line in rig.services.channel_gap_lines()
            )
        finally:
            await rig.stop()

    asyncio.run(scenario())
