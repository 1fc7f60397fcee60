"""The second path, end to end: with the broker down, a panic reaches the hub as the fallback SMS;
when the broker returns the device redelivers it over MQTT and the hub still shows one alarm.

Real broker, real hub, real device code; the only fakes are the hardware: mock pins, the device's
and the hub's modems on ptys (joined by a "GSM network" that hands each SMS from one to the
other), and the device's injected clock, which the tests drive through the ack bound.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from loneguard.device.firmware import DeviceApp
from loneguard.device.gestures import ButtonName
from loneguard.device.simulator import ClockedMockFactory
from loneguard.gsm.fake import CTRL_Z, Exchange, FakeModem
from loneguard.gsm.modem import Modem
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import EventKind
from loneguard.protocol.sms import FallbackLine
from loneguard.server.config import load_config
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread
from loneguard.server.store import AlarmKind
from tests.device.helpers import make_config
from tests.e2e.conftest import wait_until

HUB_NUMBER = "+447700900001"
DEVICE_NUMBER = "+447700900555"
SECRET = "unit-secret-0123456789"
ACK_BOUND = 20.0  # sms.ack_timeout, its default
RECONNECT_WAIT = 30.0  # the device's and the hub's reconnect backoff after the broker returns


@pytest.fixture
def hub_modem() -> Iterator[FakeModem]:
    with FakeModem() as fake:
        yield fake


@pytest.fixture
def device_modem(hub_modem: FakeModem) -> Iterator[FakeModem]:
    with FakeModem() as fake:

        def network(number: str, text: str) -> None:
            if number == HUB_NUMBER:
                hub_modem.deliver_sms(DEVICE_NUMBER, text)

        fake.on_sent = network
        yield fake


@pytest.fixture
def sms_hub(mosquitto: Mosquitto, tmp_path: Path, hub_modem: FakeModem) -> Iterator[HubThread]:
    config = load_config(
        env={
            "LONEGUARD_MQTT_URL": mosquitto.url,
            "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
            "LONEGUARD_REQUIRE_PROVISIONED": "false",
            "LONEGUARD_DB_URL": f"sqlite:///{tmp_path / 'hub.db'}",
            "LONEGUARD_HTTP": "127.0.0.1:0",
        }
    )
    modem = Modem(hub_modem.path, command_timeout=1.0, slow_timeout=1.0, boot_timeout=1.0)
    with HubThread(config, modem=modem) as hub:
        hub.store.set_device_secret("unit-01", SECRET, "test").result(timeout=5)
        yield hub


@pytest.fixture
def sms_device(
    mosquitto: Mosquitto, sms_hub: HubThread, tmp_path: Path, device_modem: FakeModem
) -> Iterator[tuple[DeviceApp, FakeClock]]:
    clock = FakeClock()
    config = make_config(
        tmp_path / "device",
        mqtt={"url": mosquitto.url, "reconnect_max_delay": 2},
        sms={"hub_number": HUB_NUMBER, "secret": SECRET},
    )
    modem = Modem(device_modem.path, command_timeout=1.0, slow_timeout=1.0, sweep_interval=None)
    app = DeviceApp(config, pin_factory=ClockedMockFactory(clock), clock=clock, modem=modem)
    app.start()
    try:
        wait_until(lambda: app.link.connected and app.link.hub_online is True)
        assert app.modem is not None and app.modem.wait_idle(10)  # initialised
        clock.advance(1.0)  # past the "starting" flash
        yield app, clock
    finally:
        app.stop("test over")


def hold_panic(app: DeviceApp, clock: FakeClock) -> str:
    pin = app.buttons[ButtonName.PANIC].pin
    pin.drive_low()
    clock.advance(app.config.timing.hold_time)
    pin.drive_high()
    (record,) = app.events_since(0)
    assert record.kind is EventKind.PANIC
    return record.id


def assert_fallback_exchange(fake: FakeModem, app: DeviceApp, event_id: str) -> None:
    (event,) = [e for e in app.outbox.pending() if e.id == event_id]
    line = FallbackLine(app.config.device.id, EventKind.PANIC, event.id, event.ts)
    start = next(i for i, e in enumerate(fake.transcript) if e.line.startswith("AT+CMGS="))
    assert fake.transcript[start : start + 6] == [
        Exchange("dte", f'AT+CMGS="{HUB_NUMBER}"'),
        Exchange("dce", "> "),
        Exchange("dte", line.encode(SECRET.encode())),
        Exchange("dte", CTRL_Z),
        Exchange("dce", "+CMGS: 1"),
        Exchange("dce", "OK"),
    ]


def assert_one_panic_alarm(hub: HubThread, event_id: str) -> None:
    alarms = hub.store.alarms()
    assert [(a.kind, a.device_id, a.event_id) for a in alarms] == [
        (AlarmKind.PANIC, "unit-01", event_id)
    ]


def test_broker_down_panic_goes_by_sms_and_the_mqtt_redelivery_opens_no_second_alarm(
    mosquitto: Mosquitto,
    sms_hub: HubThread,
    sms_device: tuple[DeviceApp, FakeClock],
    device_modem: FakeModem,
) -> None:
    app, clock = sms_device
    mosquitto.stop()
    wait_until(lambda: not app.link.connected)

    event_id = hold_panic(app, clock)
    clock.advance(ACK_BOUND)  # the bound at most; out of reach, the SMS goes at once anyway
    assert device_modem.sms_sent.wait(10)
    assert_fallback_exchange(device_modem, app, event_id)
    wait_until(lambda: sms_hub.store.alarms())
    assert_one_panic_alarm(sms_hub, event_id)
    assert [e.link for e in sms_hub.store.events(device_id="unit-01")] == ["sms"]

    mosquitto.start()  # same port, same persistent store
    wait_until(lambda: app.outbox.count() == 0, timeout=RECONNECT_WAIT)  # redelivered and acked
    assert_one_panic_alarm(sms_hub, event_id)
    assert len(sms_hub.store.events(device_id="unit-01")) == 1
    assert app.feedback.current == "help_coming"
    assert len(device_modem.sent) == 1  # one SMS, however often the link came and went


def test_frozen_broker_panic_goes_by_sms_exactly_at_the_ack_bound(
    mosquitto: Mosquitto,
    sms_hub: HubThread,
    sms_device: tuple[DeviceApp, FakeClock],
    device_modem: FakeModem,
) -> None:
    app, clock = sms_device
    assert mosquitto.process is not None
    # A stopped (SIGSTOP) broker keeps the TCP connection open: the device cannot tell it is
    # gone, publishes over MQTT as usual, and only the missing ack can send the SMS.
    mosquitto.process.send_signal(signal.SIGSTOP)
    try:
        event_id = hold_panic(app, clock)
        assert app.link.connected
        clock.advance(ACK_BOUND - 0.1)
        assert app.modem is not None and app.modem.wait_idle(10)
        assert not any(c.startswith("AT+CMGS") for c in device_modem.commands())
        clock.advance(0.1)
        assert device_modem.sms_sent.wait(10)
        assert_fallback_exchange(device_modem, app, event_id)
        wait_until(lambda: sms_hub.store.alarms())
        assert_one_panic_alarm(sms_hub, event_id)
    finally:
        mosquitto.process.send_signal(signal.SIGCONT)
    wait_until(lambda: app.outbox.count() == 0, timeout=RECONNECT_WAIT)
    assert_one_panic_alarm(sms_hub, event_id)
    assert len(sms_hub.store.events(device_id="unit-01")) == 1
    assert len(device_modem.sent) == 1
