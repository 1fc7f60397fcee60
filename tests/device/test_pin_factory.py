"""GPIO back-ends: ``gpio.factory`` picks one; one that cannot start says how to fix it (exit 2).

The ``rpigpio`` back-end is driven here with ``fake-rpi`` standing in for ``RPi.GPIO``: the
LED's and the buzzer's levels must reach ``RPi.GPIO.output``. Inputs cannot be tested this way
(``fake-rpi``'s ``add_event_detect`` never calls back, and QEMU's GPIO model takes no input edges
either), so every button test drives gpiozero's ``MockFactory`` instead, whose pins take edges
with exact times.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loneguard.device.cli import main
from loneguard.device.firmware import DeviceApp
from loneguard.device.pin_factory import PinFactoryError, make_pin_factory
from loneguard.device.simulator import ClockedMockFactory
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Command, CommandOp, new_event_id
from tests.device.helpers import FakeLink, make_config

LED_PIN, BUZZER_PIN = 22, 23
PI_3B = 0xA02082  # the revision a Pi 3 Model B reports in /proc/device-tree


@pytest.fixture
def rpi_gpio_outputs(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[int, int]]]:
    """``RPi.GPIO`` is fake-rpi's; every ``GPIO.output(channel, level)`` is recorded."""
    fake_rpi = pytest.importorskip("fake_rpi")
    import gpiozero.pins.local

    fake_rpi.toggle_print(False)
    outputs: list[tuple[int, int]] = []
    gpio = fake_rpi.RPi.GPIO
    monkeypatch.setattr(gpio, "output", lambda channel, level: outputs.append((channel, level)))
    # fake-rpi says every pin is an output whatever it was set up as; remember the setups.
    functions: dict[int, int] = {}

    def setup(channel: int, function: int, initial: int = 0, pull_up_down: Any = None) -> None:
        functions[channel] = function

    monkeypatch.setattr(gpio, "setup", setup)
    monkeypatch.setattr(gpio, "gpio_function", lambda channel: functions.get(channel, gpio.IN))
    monkeypatch.setitem(sys.modules, "RPi", fake_rpi.RPi)
    monkeypatch.setitem(sys.modules, "RPi.GPIO", gpio)
    # The board revision a Pi's device tree gives (this machine is no Pi).
    monkeypatch.setattr(gpiozero.pins.local, "get_pi_revision", lambda: PI_3B)
    yield outputs


def test_the_rpigpio_back_end_drives_the_led_and_buzzer_through_rpi_gpio(
    rpi_gpio_outputs: list[tuple[int, int]], tmp_path: Path, clock: FakeClock
) -> None:
    factory = make_pin_factory("rpigpio", clock)
    assert type(factory).__name__ == "RPiGPIOFactory"
    app = DeviceApp(make_config(tmp_path), pin_factory=factory, clock=clock, link=FakeLink())
    app.start()
    try:
        clock.advance(1.0)  # the starting flash: three quick blinks of the LED
        led = [level for channel, level in rpi_gpio_outputs if channel == LED_PIN]
        assert [bool(x) for x in led[:6]] == [True, False] * 3
        rpi_gpio_outputs.clear()
        app.on_command(Command(new_event_id(), CommandOp.PREALERT))  # blinks and beeps
        clock.advance(2.0)
        beeps = [level for channel, level in rpi_gpio_outputs if channel == BUZZER_PIN]
        assert True in {bool(x) for x in beeps} and False in {bool(x) for x in beeps}
        assert {channel for channel, _ in rpi_gpio_outputs} == {LED_PIN, BUZZER_PIN}
    finally:
        app.stop("done")
        factory.close()


def test_mock_is_the_clocked_mock_factory(clock: FakeClock) -> None:
    assert isinstance(make_pin_factory("mock", clock), ClockedMockFactory)


@pytest.mark.parametrize("name", ["lgpio", "rpigpio", "native"])
def test_a_back_end_that_cannot_start_names_the_fix(name: str, clock: FakeClock) -> None:
    # This machine is no Pi (and has neither lgpio nor RPi.GPIO installed): each one fails.
    with pytest.raises(PinFactoryError) as info:
        make_pin_factory(name, clock)
    message = str(info.value)
    assert f"gpio.factory = {name!r} cannot start" in message
    assert "Install" in message and "ProcSubset=pid" in message


def test_the_firmware_exits_2_when_its_gpio_back_end_cannot_start(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: Any
) -> None:
    for name in ("LONEGUARD_CONFIG", "LONEGUARD_MQTT_URL"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / "device.toml"
    config.write_text(f'[device]\nid = "d1"\ndata_dir = "{tmp_path}"\n[gpio]\nfactory = "lgpio"\n')
    assert main(["--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "gpio.factory = 'lgpio' cannot start" in err and "Traceback" not in err
    assert main(["selftest", "--config", str(config)]) == 2
