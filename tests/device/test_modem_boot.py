"""Both modems of the BOM, through the whole firmware: switched on at boot when silent, a GNSS
fix on a panic, and LTE-only (CEREG) registration taken as registered."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from loneguard.device.firmware import DeviceApp
from loneguard.device.gestures import ButtonName
from loneguard.device.simulator import ClockedMockFactory
from loneguard.gsm.fake import FakeModem
from loneguard.gsm.fake_models import A7670_FIX, A7670E, SIM7600, SIM7600_FIX, FakeModel
from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import EventKind, Location
from tests.device.helpers import WAIT, FakeLink, make_config

WHERE = Location(31.222177, 121.354376)
PWRKEY_PIN = 24

MODELS = [
    pytest.param(lambda: SIM7600(cereg_stat=1, fix=SIM7600_FIX), "AT+CGPS=1", id="SIM7600"),
    pytest.param(lambda: A7670E(cereg_stat=6, fix=A7670_FIX), "AT+CGNSSPWR=1", id="A7670E"),
]


@pytest.mark.parametrize(("make_model", "gnss_on"), MODELS)
def test_a_modem_that_is_off_at_boot_is_switched_on_and_serves_a_panic(
    tmp_path: Path, clock: FakeClock, make_model: object, gnss_on: str
) -> None:
    model: FakeModel = make_model()  # type: ignore[operator]
    # Off at boot, on a 4G-only network: the circuit-switched domain never registers.
    with FakeModem(powered=False, creg_stat=0, model=model) as fake:
        config = make_config(tmp_path, modem={"pwrkey": True, "gnss_max_age": 60.0})
        modem = Modem(
            fake.path, command_timeout=0.5, slow_timeout=0.5, boot_timeout=5, sweep_interval=None
        )
        factory = ClockedMockFactory(clock)
        link = FakeLink()
        app = DeviceApp(config, pin_factory=factory, clock=clock, link=link, modem=modem)
        factory.pin(PWRKEY_PIN).observers.append(lambda state, t: fake.pwrkey(bool(state), t))
        app.start()
        try:
            deadline = time.monotonic() + WAIT
            while not fake.powered:  # the worker finds AT silent and presses the key (1 s)
                assert time.monotonic() < deadline, "the modem was never switched on"
                clock.advance(0.1)
                time.sleep(0.01)
            assert app.modem is not None and app.modem.wait_idle(WAIT)
            assert fake.power_cycles == 1
            assert factory.pin(PWRKEY_PIN).state == 0  # the key is released
            sent = fake.commands()
            assert "AT+CGMM" in sent and "AT+CPIN?" in sent and gnss_on in sent

            app.modem.check()
            assert app.modem.wait_idle(WAIT)
            report = app.modem_report()
            assert report is not None and (report.registered, report.health) == (True, "ok")

            panic = app.buttons[ButtonName.PANIC].pin
            panic.drive_low()
            clock.advance(config.timing.hold_time)
            panic.drive_high()
            assert [(e.kind, e.location) for e in link.published] == [(EventKind.PANIC, WHERE)]
        finally:
            app.stop("done")


def test_a_modem_that_answers_at_boot_is_not_pressed(tmp_path: Path, clock: FakeClock) -> None:
    # The key is a toggle: pressing a running module's key for long would switch it off.
    with FakeModem(model=SIM7600(fix=SIM7600_FIX)) as fake:
        config = make_config(tmp_path, modem={"pwrkey": True})
        modem = Modem(fake.path, command_timeout=0.5, slow_timeout=0.5, sweep_interval=None)
        factory = ClockedMockFactory(clock)
        app = DeviceApp(config, pin_factory=factory, clock=clock, link=FakeLink(), modem=modem)
        app.start()
        try:
            assert app.modem is not None and app.modem.wait_idle(WAIT)
            assert [s for _, s in factory.pin(PWRKEY_PIN).states] == [0]
            assert fake.power_cycles == 0
        finally:
            app.stop("done")


def test_the_hat_flight_mode_pin_is_held_low(tmp_path: Path, clock: FakeClock) -> None:
    config = make_config(tmp_path, modem={"flight_pin": True})
    factory = ClockedMockFactory(clock)
    app = DeviceApp(config, pin_factory=factory, clock=clock, link=FakeLink())
    app.start()
    try:
        flight = factory.pin(4)
        assert flight.function == "output" and flight.state == 0
    finally:
        app.stop("done")
