"""The battery level in the heartbeat: a PiSugar 3 on a fake I2C bus, through the app and a real
broker to the heartbeat topic."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from loneguard.device.battery import PISUGAR3_ADDRESS, PiSugar3
from loneguard.device.config import ConfigError
from loneguard.device.firmware import DeviceApp
from loneguard.device.simulator import ClockedMockFactory
from loneguard.protocol.clock import FakeClock
from loneguard.protocol.messages import Heartbeat
from loneguard.protocol.topics import Channel, DeviceTopic
from loneguard.server.devtools.private_broker import Mosquitto
from tests.device.helpers import Observer, make_config, wait_until


class FakeI2cBus:
    """The board's registers; ``fail`` makes every read raise as an absent chip does."""

    def __init__(self, registers: dict[int, int]) -> None:
        self.registers = registers
        self.fail = False
        self.closed = False
        self.reads: list[tuple[int, int]] = []

    def read_byte_data(self, address: int, register: int) -> int:
        self.reads.append((address, register))
        if self.fail or address != PISUGAR3_ADDRESS:
            raise OSError(121, "Remote I/O error")
        return self.registers[register]

    def close(self) -> None:
        self.closed = True


def test_pisugar3_reads_the_level_register(caplog: pytest.LogCaptureFixture) -> None:
    bus = FakeI2cBus({0x00: 3, 0x2A: 87})
    board = PiSugar3(bus)
    assert board.percent() == 87
    assert bus.reads == [(0x57, 0x00), (0x57, 0x2A)]
    bus.registers[0x00] = 2  # a PiSugar 2 answers differently: no guessing
    assert board.percent() is None
    bus.registers[0x00] = 3
    assert board.percent() == 87
    bus.fail = True
    with caplog.at_level(logging.WARNING):
        assert board.percent() is None
        assert board.percent() is None
    assert [r.message for r in caplog.records].count(
        "battery board not readable: [Errno 121] Remote I/O error"
    ) == 1  # once per outage, not every heartbeat
    bus.fail = False
    assert board.percent() == 87


def test_the_board_is_a_checked_setting(tmp_path: Path) -> None:
    assert make_config(tmp_path).battery.board == "none"
    assert make_config(tmp_path, battery={"board": "pisugar3"}).battery.board == "pisugar3"
    with pytest.raises(ConfigError, match=r"battery\.board: must be one of none, pisugar3"):
        make_config(tmp_path, battery={"board": "pisugar2"})


def test_heartbeats_carry_the_battery_level(
    tmp_path: Path, clock: FakeClock, mosquitto: Mosquitto
) -> None:
    config = make_config(tmp_path, mqtt={"url": mosquitto.url}, timing={"heartbeat_interval": 10})
    topic = str(DeviceTopic(config.device.id, Channel.HEARTBEAT))
    observer = Observer(mosquitto.url, [topic])
    bus = FakeI2cBus({0x00: 3, 0x2A: 64})
    app = DeviceApp(
        config, pin_factory=ClockedMockFactory(clock), clock=clock, battery=PiSugar3(bus)
    )
    app.start()
    try:
        wait_until(lambda: app.link.connected)
        clock.advance(10.0)
        assert Heartbeat.decode(observer.next_payload(topic)).battery == 64
        bus.fail = True  # the board stops answering: the heartbeat says "not known"
        clock.advance(10.0)
        assert Heartbeat.decode(observer.next_payload(topic)).battery is None
    finally:
        app.stop("done")
        observer.close()
    assert bus.closed
