"""Finding 4 (High): one device's own broker login, connecting with the hub's client id, knocked
the hub off the shipped broker again and again, and a panic sent meanwhile was never stored.

The shipped config binds every client id to its user name (``use_username_as_clientid``), so a
device cannot take another client's session; ``hub`` (whose firmware client id would be the
hub's) and the hub's own account are refused as device ids at provisioning.
"""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loneguard.server.admin.provisioning import (
    HUB_USERNAME,
    BrokerDir,
    ProvisionError,
    add_device_account,
)
from tests.broker.clients import Client
from tests.broker.conftest import SecureBroker

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


def test_a_device_using_the_hubs_client_id_does_not_knock_the_hub_off(
    secure_broker: SecureBroker, clients: list[Client]
) -> None:
    hub = Client(
        secure_broker.hub_port, HUB_USERNAME, secure_broker.hub_password, client_id=HUB_USERNAME
    )
    clients.append(hub)
    dropped = threading.Event()

    def on_disconnect(*_args: Any) -> None:
        dropped.set()

    hub.client.on_disconnect = on_disconnect
    assert hub.connect() == 0
    hub.subscribe("loneguard/v1/dev/+/event")

    creds = secure_broker.devices["dev-a"]
    for client_id in (HUB_USERNAME, "loneguard-dev-b"):
        rogue = Client(
            secure_broker.tls_port,
            "dev-a",
            creds.password,
            tls=True,
            ca_file=secure_broker.broker.ca_cert,
            client_id=client_id,
        )
        clients.append(rogue)
        assert rogue.connect() == 0
    honest_b = secure_broker.devices["dev-b"]
    b = Client(
        secure_broker.tls_port,
        "dev-b",
        honest_b.password,
        tls=True,
        ca_file=secure_broker.broker.ca_cert,
        client_id="loneguard-dev-b",
    )
    clients.append(b)
    assert b.connect() == 0
    b.publish("loneguard/v1/dev/dev-b/event", b"panic")
    assert hub.next_message() == ("loneguard/v1/dev/dev-b/event", b"panic")
    assert not dropped.is_set(), "the hub was disconnected by a device's client id"


@pytest.mark.parametrize("name", ["hub", HUB_USERNAME, "HUB"])
def test_reserved_names_are_refused_at_provisioning(tmp_path: Path, name: str) -> None:
    broker = BrokerDir(tmp_path)
    with pytest.raises(ProvisionError, match="reserved for the hub"):
        add_device_account(broker, name, "mqtts://127.0.0.1:8883")


def test_the_hub_finds_the_shipped_broker_closed_to_anonymous_clients(
    secure_broker: SecureBroker,
) -> None:
    """Finding 8's start check, against the shipped config: not an open broker."""
    import asyncio

    from loneguard.server.config import load_config
    from loneguard.server.ingest.open_broker import accepts_anonymous

    config = load_config(env={"LONEGUARD_MQTT_URL": f"mqtt://127.0.0.1:{secure_broker.hub_port}"})
    assert asyncio.run(accepts_anonymous(config)) is False
