"""GNSS: where the modem has a receiver, its last fix goes with a panic or duress, and only then."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loneguard.device.firmware import DeviceApp
from loneguard.device.gestures import ButtonName
from loneguard.device.simulator import ClockedMockFactory
from loneguard.gsm.fake import NO_FIX_GPSINFO, SAMPLE_GPSINFO, FakeModem
from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Event, EventKind, Location
from tests.device.helpers import WAIT, FakeLink, duress_chord, make_config

# SAMPLE_GPSINFO: 31 deg 13.330650' N, 121 deg 21.262554' E
WHERE = Location(31.222177, 121.354376)


@pytest.fixture
def fake() -> Iterator[FakeModem]:
    with FakeModem(gps_info=SAMPLE_GPSINFO) as fake:
        yield fake


def modem_on(fake: FakeModem) -> Modem:
    return Modem(fake.path, command_timeout=0.5, slow_timeout=0.5, sweep_interval=None)


def started(tmp_path: Path, clock: FakeClock, fake: FakeModem, link: FakeLink) -> DeviceApp:
    config = make_config(tmp_path / "data", modem={"gnss_max_age": 60.0})
    app = DeviceApp(
        config, pin_factory=ClockedMockFactory(clock), clock=clock, link=link, modem=modem_on(fake)
    )
    app.start()
    assert app.modem is not None and app.modem.wait_idle(WAIT)
    clock.advance(1.0)
    return app


def press(app: DeviceApp, clock: FakeClock, button: ButtonName, times: int = 1) -> None:
    pin = app.buttons[button].pin
    for _ in range(times):
        pin.drive_low()
        if button is ButtonName.PANIC:
            clock.advance(app.config.timing.hold_time)
        pin.drive_high()
        clock.advance(0.1)  # a press each, the releases settled


def test_the_modem_switches_gps_on_and_reads_a_fix(fake: FakeModem) -> None:
    with modem_on(fake) as modem:
        modem.initialise()
        assert modem.gps_fix() is None  # before AT+CGPS=1 the receiver is off
        assert modem.start_gps() is True
        assert modem.start_gps() is True  # already on: an error, yet the receiver is there
        fix = modem.gps_fix()
        assert fix is not None
        assert (round(fix.latitude, 6), round(fix.longitude, 6)) == (WHERE.lat, WHERE.lon)
        assert fix.altitude_m == 32.9
        fake.gps_info = NO_FIX_GPSINFO
        assert modem.gps_fix() is None


def test_a_modem_without_gnss_says_so() -> None:
    with FakeModem() as fake, modem_on(fake) as modem:
        modem.initialise()
        assert modem.start_gps() is False
        assert modem.gps_fix() is None


def test_panic_and_duress_carry_the_last_fix_and_nothing_else_does(
    tmp_path: Path, clock: FakeClock, fake: FakeModem
) -> None:
    link = FakeLink()
    app = started(tmp_path, clock, fake, link)
    try:
        assert "AT+CGPS=1" in fake.commands()
        press(app, clock, ButtonName.CHECKIN)
        press(app, clock, ButtonName.PANIC)
        duress_chord(app, clock)
        app.buttons[ButtonName.CHECKIN].pin.drive_low()  # a long hold: a session start
        clock.advance(app.config.timing.long_hold)
        app.buttons[ButtonName.CHECKIN].pin.drive_high()
        clock.advance(app.config.timing.step_window)
        kinds = [e.kind for e in link.published]
        assert kinds == [
            EventKind.CHECKIN,
            EventKind.PANIC,
            EventKind.DURESS,
            EventKind.SESSION_START,
        ]
        located = {e.kind: e.location for e in link.published}
        assert located == {
            EventKind.CHECKIN: None,
            EventKind.PANIC: WHERE,
            EventKind.DURESS: WHERE,
            EventKind.SESSION_START: None,
        }
        # On the wire, a check-in has no location key at all; the panic has it.
        assert b"location" not in link.published[0].encode()
        assert Event.decode(link.published[1].encode()).location == WHERE
    finally:
        app.stop("done")


def test_a_stale_fix_or_no_fix_means_no_location(
    tmp_path: Path, clock: FakeClock, fake: FakeModem
) -> None:
    link = FakeLink()
    app = started(tmp_path, clock, fake, link)
    try:
        fake.gps_info = NO_FIX_GPSINFO  # indoors: the receiver loses the sky
        clock.advance(61.0)  # past modem.gnss_max_age; health checks find no new fix
        assert app.modem is not None and app.modem.wait_idle(WAIT)
        press(app, clock, ButtonName.PANIC)
        assert [(e.kind, e.location) for e in link.published] == [(EventKind.PANIC, None)]

        fake.gps_info = SAMPLE_GPSINFO  # outside again: the next check reads a fix
        clock.advance(app.config.timing.heartbeat_interval)
        assert app.modem.wait_idle(WAIT)
        press(app, clock, ButtonName.PANIC)
        assert link.published[-1].location == WHERE
    finally:
        app.stop("done")


def test_a_garbled_position_is_ignored_and_the_panic_still_goes(
    tmp_path: Path, clock: FakeClock
) -> None:
    # 95 degrees north: no such place. The panic must go, without a location.
    with FakeModem(gps_info="9500.000000,N,12121.262554,E,131117,091918.0,32.9,0.0,0") as fake:
        link = FakeLink()
        app = started(tmp_path, clock, fake, link)
        try:
            press(app, clock, ButtonName.PANIC)
            assert [(e.kind, e.location) for e in link.published] == [(EventKind.PANIC, None)]
        finally:
            app.stop("done")
