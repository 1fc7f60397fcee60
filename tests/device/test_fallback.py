"""The SMS path and the modem's health, against the fake modem on a pty and the fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loneguard.device.config import Config
from loneguard.device.fallback import ModemWorker
from loneguard.device.firmware import DeviceApp
from loneguard.device.link import ModemReport
from loneguard.device.simulator import ClockedMockFactory
from loneguard.gsm.fake import CTRL_Z, Exchange, FakeModem
from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import DeviceState, EventKind, HubStatus
from loneguard.protocol.sms import FallbackLine
from tests.device.helpers import FakeLink, duress_chord, make_config

HUB_NUMBER = "+447700900001"
SECRET = "s3cret-shared"
CHECKIN_PIN, PANIC_PIN = 17, 27
WAIT = 10.0


@pytest.fixture
def fake() -> Iterator[FakeModem]:
    with FakeModem() as fake:
        yield fake


def sms_config(tmp_path: Path) -> Config:
    return make_config(tmp_path / "data", sms={"hub_number": HUB_NUMBER, "secret": SECRET})


def make_modem(fake: FakeModem) -> Modem:
    return Modem(
        fake.path, command_timeout=0.3, slow_timeout=0.3, boot_timeout=2.0, sweep_interval=None
    )


def started(config: Config, clock: FakeClock, link: FakeLink, fake: FakeModem) -> DeviceApp:
    app = DeviceApp(
        config,
        pin_factory=ClockedMockFactory(clock),
        clock=clock,
        link=link,
        modem=make_modem(fake),
    )
    app.start()
    clock.advance(1.0)
    return app


def panic(app: DeviceApp, clock: FakeClock) -> None:
    button = app.buttons[next(iter(app.buttons))].pin_factory.pin(PANIC_PIN)
    button.drive_low()
    clock.advance(3.0)
    button.drive_high()


def idle(app: DeviceApp) -> None:
    assert app.modem is not None and app.modem.wait_idle(WAIT)


def cmgs_exchange(fake: FakeModem) -> list[Exchange]:
    start = next(i for i, e in enumerate(fake.transcript) if e.line.startswith("AT+CMGS="))
    return fake.transcript[start : start + 4]


def test_broker_unreachable_panic_goes_by_sms_once_and_later_over_mqtt(
    tmp_path: Path, clock: FakeClock, fake: FakeModem
) -> None:
    link = FakeLink(connected=False)
    app = started(sms_config(tmp_path), clock, link, fake)
    try:
        panic(app, clock)
        (event,) = app.outbox.pending()
        clock.advance(20.0)
        assert fake.sms_sent.wait(WAIT)
        idle(app)
        line = FallbackLine(app.config.device.id, EventKind.PANIC, event.id, event.ts)
        assert cmgs_exchange(fake) == [
            Exchange("dte", f'AT+CMGS="{HUB_NUMBER}"'),
            Exchange("dce", "> "),
            Exchange("dte", line.encode(SECRET.encode())),
            Exchange("dte", CTRL_Z),
        ]
        parsed, mac = FallbackLine.parse_unverified(fake.sent[0][1])
        parsed.verify(mac, SECRET.encode())
        assert fake.sent == [(HUB_NUMBER, line.encode(SECRET.encode()))]

        # Nothing sends it twice: not another timeout, not the link dropping again.
        link.connected = True
        link.disconnect()
        clock.advance(60.0)
        idle(app)
        assert len(fake.sent) == 1

        # The event stayed in the outbox and goes over MQTT when the broker returns.
        link.connect()
        assert [e.id for e in link.published] == [event.id]
        assert app.outbox.pending() == [event]
        link.ack(event.id)
        assert app.outbox.count() == 0
    finally:
        app.stop("done")


def test_no_ack_within_the_bound_sends_the_sms(
    tmp_path: Path, clock: FakeClock, fake: FakeModem
) -> None:
    link = FakeLink()
    link.hub_online = True
    app = started(sms_config(tmp_path), clock, link, fake)
    try:
        panic(app, clock)
        assert [e.kind for e in link.published] == [EventKind.PANIC]
        clock.advance(19.9)
        idle(app)
        assert fake.sent == []
        clock.advance(0.1)
        assert fake.sms_sent.wait(WAIT)
        idle(app)
        assert [text.split(" ")[2] for _, text in fake.sent] == ["PANIC"]
    finally:
        app.stop("done")


def test_an_ack_in_time_means_no_sms(tmp_path: Path, clock: FakeClock, fake: FakeModem) -> None:
    link = FakeLink()
    app = started(sms_config(tmp_path), clock, link, fake)
    try:
        panic(app, clock)
        clock.advance(5.0)
        link.ack(link.published[0].id)
        clock.advance(60.0)
        idle(app)
        assert fake.sent == []
    finally:
        app.stop("done")


def test_hub_offline_sends_a_waiting_duress_at_once(
    tmp_path: Path, clock: FakeClock, fake: FakeModem
) -> None:
    link = FakeLink()
    app = started(sms_config(tmp_path), clock, link, fake)
    try:
        duress_chord(app, clock)
        assert [e.kind for e in link.published] == [EventKind.DURESS]
        app.on_hub_status(HubStatus(DeviceState.OFFLINE, clock.wall_ms()))
        assert fake.sms_sent.wait(WAIT)
        idle(app)
        assert [text.split(" ")[2] for _, text in fake.sent] == ["DURESS"]
    finally:
        app.stop("done")


def test_a_checkin_never_goes_by_sms(tmp_path: Path, clock: FakeClock, fake: FakeModem) -> None:
    link = FakeLink(connected=False)
    app = started(sms_config(tmp_path), clock, link, fake)
    try:
        pin = app.buttons[next(iter(app.buttons))].pin_factory.pin(CHECKIN_PIN)
        pin.drive_low()
        pin.drive_high()
        clock.advance(0.6)
        assert app.outbox.count() == 1
        link.connected = True
        link.disconnect()
        clock.advance(120.0)
        idle(app)
        assert fake.sent == []
        assert not any(c.startswith("AT+CMGS") for c in fake.commands())
    finally:
        app.stop("done")


def test_an_sms_already_sent_is_not_sent_again_after_a_restart(
    tmp_path: Path, clock: FakeClock, fake: FakeModem
) -> None:
    config = sms_config(tmp_path)
    first = started(config, clock, FakeLink(connected=False), fake)
    panic(first, clock)
    assert fake.sms_sent.wait(WAIT)
    idle(first)
    first.stop("power cut")
    second = started(config, clock, FakeLink(), fake)
    try:
        clock.advance(60.0)
        idle(second)
        assert len(fake.sent) == 1
        assert second.outbox.count() == 1  # still waiting for the hub's ack over MQTT
    finally:
        second.stop("done")


def test_an_unsent_alarm_of_an_earlier_run_gets_a_fresh_bound(
    tmp_path: Path, clock: FakeClock, fake: FakeModem
) -> None:
    config = sms_config(tmp_path)
    first = DeviceApp(config, pin_factory=ClockedMockFactory(clock), clock=clock, link=FakeLink())
    first.start()
    panic(first, clock)
    first.stop("power cut")  # before the bound: no SMS yet
    second = started(config, clock, FakeLink(), fake)
    try:
        clock.advance(18.0)
        idle(second)
        assert fake.sent == []
        clock.advance(2.0)
        assert fake.sms_sent.wait(WAIT)
    finally:
        second.stop("done")


def test_health_check_reports_signal_and_registration(clock: FakeClock, fake: FakeModem) -> None:
    worker = ModemWorker(make_modem(fake), clock, check_interval=30.0)
    worker.start()
    try:
        clock.advance(30.0)  # the periodic check, on the injected clock
        assert worker.wait_idle(WAIT)
        assert worker.report() == ModemReport(rssi=-73, registered=True, health="ok")
        fake.creg_stat = 0
        worker.check()
        assert worker.wait_idle(WAIT)
        assert worker.report().registered is False
    finally:
        worker.stop()


def test_a_hung_modem_is_recovered_in_process(clock: FakeClock, fake: FakeModem) -> None:
    worker = ModemWorker(make_modem(fake), clock, check_interval=30.0)
    worker.start()
    try:
        assert worker.wait_idle(WAIT)
        fake.hang(until="cfun")
        fake.clear_transcript()
        worker.check()
        assert worker.wait_idle(WAIT)
        assert worker.report() == ModemReport(rssi=-73, registered=True, health="ok")
        commands = fake.commands()
        assert commands[0] == "AT+CSQ"  # no answer: the modem hung
        assert commands.index("AT+CFUN=0") < commands.index("AT+CFUN=1")
        assert "ATE0" in commands  # re-initialised after the toggle
        assert fake.power_cycles == 0
    finally:
        worker.stop()


def test_a_modem_that_stays_dead_reports_failed(clock: FakeClock, fake: FakeModem) -> None:
    worker = ModemWorker(make_modem(fake), clock, check_interval=30.0)
    worker.start()
    try:
        assert worker.wait_idle(WAIT)
        fake.hang(until="power")  # no PWRKEY wired: nothing brings it back
        worker.check()
        assert worker.wait_idle(WAIT)
        assert worker.report() == ModemReport(rssi=None, registered=None, health="failed")
        fake.unhang()
        worker.check()  # the next check tries again
        assert worker.wait_idle(WAIT)
        assert worker.report().health == "ok"
    finally:
        worker.stop()


def test_the_running_device_recovers_a_hung_modem_and_still_sends_the_sms(
    tmp_path: Path, clock: FakeClock, fake: FakeModem
) -> None:
    link = FakeLink(connected=False)
    app = started(sms_config(tmp_path), clock, link, fake)
    try:
        idle(app)
        fake.hang(until="cfun")
        clock.advance(30.0)  # timing.heartbeat_interval: the periodic health check finds it
        idle(app)
        assert app.modem_report() == ModemReport(rssi=-73, registered=True, health="ok")
        assert "AT+CFUN=1" in fake.commands()
        panic(app, clock)  # the same process, the same modem: the fallback still works
        assert fake.sms_sent.wait(WAIT)
        idle(app)
        assert [text.split(" ")[2] for _, text in fake.sent] == ["PANIC"]
    finally:
        app.stop("done")
