"""A real Mosquitto running the shipped broker/mosquitto.conf and broker/acl, on free ports."""

from __future__ import annotations

import getpass
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from loneguard.server.admin.provisioning import (
    BrokerDir,
    DeviceCredentials,
    add_device_account,
    init_broker,
)
from loneguard.server.devtools.private_broker import Mosquitto, free_port, wait_for_port

SHIPPED = Path(__file__).resolve().parents[2] / "broker"
SHIPPED_DIR = "/etc/loneguard/broker/"


def render_config(text: str, state: Path, persistence: Path, tls_port: int, hub_port: int) -> str:
    """The shipped config with its folders and ports moved into the test's temporary space."""
    text = text.replace(SHIPPED_DIR, f"{state}/")
    text = text.replace(
        "persistence_location /var/lib/mosquitto/", f"persistence_location {persistence}/"
    )
    text = re.sub(r"^listener 8883$", f"listener {tls_port} 127.0.0.1", text, flags=re.M)
    text = re.sub(
        r"^listener 1883 127\.0\.0\.1$", f"listener {hub_port} 127.0.0.1", text, flags=re.M
    )
    # As root mosquitto would switch to the 'mosquitto' user, who cannot read a private tmp dir.
    return f"user {getpass.getuser()}\n{text}"


@dataclass
class SecureBroker:
    broker: BrokerDir
    mosquitto: Mosquitto
    tls_port: int
    hub_port: int
    hub_password: str
    devices: dict[str, DeviceCredentials]

    @property
    def host(self) -> str:
        return "127.0.0.1"


@pytest.fixture
def secure_broker(tmp_path: Path) -> Iterator[SecureBroker]:
    state = tmp_path / "broker"
    broker = BrokerDir(state)
    hub_url = init_broker(broker, ["localhost", "127.0.0.1"])
    hub_password = hub_url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    tls_port, hub_port = free_port(), free_port()
    devices = {
        d: add_device_account(broker, d, f"mqtts://127.0.0.1:{tls_port}", str(broker.ca_cert))
        for d in ("dev-a", "dev-b")
    }
    (state / "acl").write_text((SHIPPED / "acl").read_text())
    persistence = tmp_path / "persistence"
    persistence.mkdir()
    config = render_config(
        (SHIPPED / "mosquitto.conf").read_text(), state, persistence, tls_port, hub_port
    )
    mosquitto = Mosquitto(hub_port, workdir=tmp_path / "run", config=config)
    mosquitto.start()
    try:
        wait_for_port("127.0.0.1", tls_port)
        yield SecureBroker(broker, mosquitto, tls_port, hub_port, hub_password, devices)
    finally:
        mosquitto.close()
