"""A hung modem is brought back without restarting the device: re-initialise, AT+CFUN toggle, then
a PWRKEY power cycle on the pin from the pin map, with the recovery shown in the heartbeats."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from loneguard.device.config import ConfigError
from loneguard.device.firmware import DeviceApp
from loneguard.device.link import ModemReport
from loneguard.device.pwrkey import PwrKey
from loneguard.device.simulator import ClockedMockFactory
from loneguard.gsm.fake import FakeModem
from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Heartbeat
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.devtools.private_broker import Mosquitto
from tests.device.helpers import WAIT, Observer, led_states, make_config, wait_until

PWRKEY_PIN = 24  # hw: pinmap.toml [pins.modem_pwrkey]


@pytest.fixture
def fake() -> Iterator[FakeModem]:
    with FakeModem() as fake:
        yield fake


def wire(factory: ClockedMockFactory, fake: FakeModem) -> threading.Event:
    """Join the mock pin to the fake modem's PWRKEY; the event is set when the key goes down."""
    pressed = threading.Event()

    def follow(state: object, now: float) -> None:
        fake.pwrkey(bool(state), now)
        if state:
            pressed.set()

    factory.pin(PWRKEY_PIN).observers.append(follow)
    return pressed


def test_a_power_cycle_holds_the_key_3s_waits_5s_holds_1s(clock: FakeClock) -> None:
    factory = ClockedMockFactory(clock)
    key = PwrKey(PWRKEY_PIN, clock, pin_factory=factory)
    done = threading.Thread(target=key.power_cycle)
    pin = factory.pin(PWRKEY_PIN)
    pressed = threading.Event()
    pin.observers.append(lambda state, now: state and pressed.set())
    done.start()
    assert pressed.wait(WAIT)
    clock.advance(8.9)
    assert pin.state == 1 and done.is_alive()
    clock.advance(0.1)
    done.join(WAIT)
    assert not done.is_alive()
    assert led_states(pin) == [(0.0, 0), (0.0, 1), (3.0, 0), (5.0, 1), (1.0, 0)]
    key.close()


def test_the_pwrkey_pin_comes_from_the_pin_map_and_counts_only_when_wired(tmp_path: Path) -> None:
    assert make_config(tmp_path).pins.modem_pwrkey is None
    assert make_config(tmp_path, modem={"pwrkey": True}).pins.modem_pwrkey == PWRKEY_PIN
    # Unwired, its pin is free for something else; wired, a pin used twice is an error.
    assert make_config(tmp_path, pins={"led": PWRKEY_PIN}).pins.led == PWRKEY_PIN
    with pytest.raises(
        ConfigError, match=r"pins\.modem_pwrkey: GPIO 24 is already used by pins\.led"
    ):
        make_config(tmp_path, pins={"led": PWRKEY_PIN}, modem={"pwrkey": True})
    with pytest.raises(ConfigError, match=r"modem\.pwrkey: must be true or false"):
        make_config(tmp_path, modem={"pwrkey": "yes"})


def test_a_modem_hung_until_power_off_is_recovered_in_process_and_the_heartbeat_says_so(
    tmp_path: Path, clock: FakeClock, fake: FakeModem, mosquitto: Mosquitto
) -> None:
    config = make_config(
        tmp_path / "data",
        mqtt={"url": mosquitto.url},
        timing={"heartbeat_interval": 5},
        modem={"pwrkey": True},
    )
    factory = ClockedMockFactory(clock)
    pressed = wire(factory, fake)
    modem = Modem(
        fake.path, command_timeout=0.3, slow_timeout=0.3, boot_timeout=2.0, sweep_interval=None
    )
    topic = str(DeviceTopic(config.device.id, Channel.HEARTBEAT))
    observer = Observer(mosquitto.url, [topic])
    app = DeviceApp(config, pin_factory=factory, clock=clock, modem=modem)
    app.start()
    try:
        wait_until(lambda: app.link.connected)
        assert app.modem is not None and app.modem.wait_idle(WAIT)
        assert observer.messages.empty()
        fake.hang(until="power")  # AT+CFUN cannot help: only switching it off and on
        fake.clear_transcript()
        pin = factory.pin(PWRKEY_PIN)
        pin.clear_states()

        clock.advance(5.0)  # the periodic health check finds the modem silent
        assert pressed.wait(WAIT), "recovery never reached the PWRKEY step"
        assert app.modem_report().health == "recovering"
        commands = fake.commands()
        assert commands[0] == "AT+CSQ"
        assert commands.index("AT+CFUN=0") < commands.index("AT+CFUN=1")
        assert commands.count("AT") >= 2  # probed before and after the toggle
        assert fake.power_cycles == 0

        clock.advance(5.0)  # a heartbeat while the key is held: it says "recovering"
        beat = Heartbeat.decode(observer.next_payload(topic))
        while beat.modem != "recovering":
            beat = Heartbeat.decode(observer.next_payload(topic))
        clock.advance(4.0)  # the rest of the sequence: key up, 5 s off, 1 s on
        assert app.modem.wait_idle(WAIT)
        assert fake.power_cycles == 1 and fake.powered
        assert led_states(pin) == [(0.0, 0), (5.0, 1), (3.0, 0), (5.0, 1), (1.0, 0)]
        assert "ATE0" in fake.commands()  # initialised again after the boot
        assert app.modem_report() == ModemReport(rssi=-73, registered=True, health="ok")

        clock.advance(5.0)
        beat = Heartbeat.decode(observer.next_payload(topic))
        while beat.modem != "ok":
            beat = Heartbeat.decode(observer.next_payload(topic))
        assert (beat.rssi, beat.registered) == (-73, True)
    finally:
        app.stop("done")
        observer.close()
