"""Fault fixtures: a real hub (in this process) on the private Mosquitto, reconnecting fast."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from loneguard.protocol.clock import FakeClock
from loneguard.server.config import HubConfig, load_config
from loneguard.server.devtools.private_broker import Mosquitto
from loneguard.server.hub import HubThread
from tests.faults.harness import COUNTS, OutboxDevice


def fault_config(mosquitto: Mosquitto, db: Path) -> HubConfig:
    return load_config(
        env={
            "LONEGUARD_MQTT_URL": mosquitto.url,
            "LONEGUARD_MQTT_DEMO": "true",  # a private test broker, open to all
            "LONEGUARD_REQUIRE_PROVISIONED": "false",
            "LONEGUARD_DB_URL": f"sqlite:///{db}",
            "LONEGUARD_HTTP": "127.0.0.1:0",
        }
    ).with_values({"mqtt.reconnect_max": 1.0})


@pytest.fixture
def devices_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_devices(
    mosquitto: Mosquitto, tmp_path: Path, devices_clock: FakeClock
) -> Iterator[object]:
    made: list[OutboxDevice] = []

    def make(count: int) -> list[OutboxDevice]:
        for i in range(count):
            device = OutboxDevice(
                tmp_path / f"unit-{i}", f"unit-{i:02d}", mosquitto.url, devices_clock
            )
            made.append(device.start())
        return made[-count:]

    yield make
    for device in made:
        device.stop()


@pytest.fixture
def fault_hub(mosquitto: Mosquitto, tmp_path: Path) -> Iterator[HubThread]:
    with HubThread(fault_config(mosquitto, tmp_path / "hub.db")) as running:
        yield running


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Every fault test's counts in the summary, so CI shows them without ``-s``."""
    if COUNTS:
        terminalreporter.section("fault suite: what was sent and what arrived")
        for line in COUNTS:
            terminalreporter.write_line(line)
