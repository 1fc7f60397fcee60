"""The shipped broker config and ACL, against a real Mosquitto: each device stays in its lane.

A broker drops a forbidden publish without telling the publisher (MQTT 3.1.1 cannot refuse
one), so "it did not arrive" is shown by ordering: the forbidden message goes first, an allowed
sentinel after it on the same connection, and the first message the reader gets must be the
sentinel. No sleeping.
"""

from __future__ import annotations

import os
import shutil
import signal
import ssl
from collections.abc import Iterator

import pytest

from loneguard.server.admin.provisioning import HUB_USERNAME, remove_device_account
from tests.broker.clients import Client
from tests.broker.conftest import SecureBroker

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="needs the openssl command")

EVENT = "loneguard/v1/dev/{}/event"
CMD = "loneguard/v1/dev/{}/cmd"
ACK = "loneguard/v1/dev/{}/ack"


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


def device(broker: SecureBroker, device_id: str, clients: list[Client]) -> Client:
    """A device logged in over TLS, verifying the broker with the generated CA."""
    creds = broker.devices[device_id]
    client = Client(
        broker.tls_port, device_id, creds.password, tls=True, ca_file=broker.broker.ca_cert
    )
    clients.append(client)
    assert client.connect() == 0
    return client


def hub(broker: SecureBroker, clients: list[Client]) -> Client:
    """The hub, on the loopback listener."""
    client = Client(broker.hub_port, HUB_USERNAME, broker.hub_password)
    clients.append(client)
    assert client.connect() == 0
    return client


def test_device_a_cannot_publish_as_device_b(
    secure_broker: SecureBroker, clients: list[Client]
) -> None:
    the_hub = hub(secure_broker, clients)
    the_hub.subscribe("loneguard/v1/dev/+/event")
    a = device(secure_broker, "dev-a", clients)

    a.publish(EVENT.format("dev-b"), b"forged")
    a.publish(EVENT.format("dev-a"), b"sentinel")

    assert the_hub.next_message() == (EVENT.format("dev-a"), b"sentinel")


def test_device_a_cannot_read_device_b_commands(
    secure_broker: SecureBroker, clients: list[Client]
) -> None:
    a = device(secure_broker, "dev-a", clients)
    a.subscribe(CMD.format("dev-b"))
    a.subscribe("loneguard/v1/dev/+/cmd")
    a.subscribe("loneguard/v1/#")
    b = device(secure_broker, "dev-b", clients)
    b.subscribe(CMD.format("dev-b"))
    the_hub = hub(secure_broker, clients)

    the_hub.publish(CMD.format("dev-b"), b"for b only")
    the_hub.publish(CMD.format("dev-a"), b"sentinel")

    assert b.next_message() == (CMD.format("dev-b"), b"for b only")
    assert a.next_message() == (CMD.format("dev-a"), b"sentinel")


def test_the_hub_reads_every_device_and_acks_over_a_shared_subscription(
    secure_broker: SecureBroker, clients: list[Client]
) -> None:
    the_hub = hub(secure_broker, clients)
    # Mosquitto checks a $share subscription against the topic after $share/<group>/.
    the_hub.subscribe("$share/loneguard-hub/loneguard/v1/dev/+/event")
    the_hub.publish("loneguard/v1/hub/status", b'{"state":"online","ts":1}', retain=True)
    a = device(secure_broker, "dev-a", clients)
    a.subscribe(ACK.format("dev-a"))
    a.subscribe("loneguard/v1/hub/status")
    assert a.next_message() == ("loneguard/v1/hub/status", b'{"state":"online","ts":1}')
    b = device(secure_broker, "dev-b", clients)

    a.publish(EVENT.format("dev-a"), b"from a")
    b.publish(EVENT.format("dev-b"), b"from b")
    got = {the_hub.next_message(), the_hub.next_message()}
    assert got == {(EVENT.format("dev-a"), b"from a"), (EVENT.format("dev-b"), b"from b")}

    the_hub.publish(ACK.format("dev-a"), b"ack")
    assert a.next_message() == (ACK.format("dev-a"), b"ack")


def test_a_device_cannot_publish_the_hub_status_or_acks(
    secure_broker: SecureBroker, clients: list[Client]
) -> None:
    a = device(secure_broker, "dev-a", clients)
    a.subscribe(ACK.format("dev-a"))
    b = device(secure_broker, "dev-b", clients)
    b.subscribe(ACK.format("dev-b"))
    b.subscribe("loneguard/v1/hub/status")
    the_hub = hub(secure_broker, clients)

    a.publish(ACK.format("dev-b"), b"forged ack")
    a.publish("loneguard/v1/hub/status", b"forged status")
    the_hub.publish(ACK.format("dev-b"), b"sentinel")

    # Nothing retained on hub/status yet, so the first message b sees must be the real ack.
    assert b.next_message() == (ACK.format("dev-b"), b"sentinel")


def test_anonymous_clients_are_refused(secure_broker: SecureBroker, clients: list[Client]) -> None:
    for port in (secure_broker.hub_port,):
        client = Client(port, None, None)
        clients.append(client)
        assert client.connect() == "Not authorized"
    tls = Client(secure_broker.tls_port, None, None, tls=True, ca_file=secure_broker.broker.ca_cert)
    clients.append(tls)
    assert tls.connect() == "Not authorized"


def test_a_wrong_password_is_refused(secure_broker: SecureBroker, clients: list[Client]) -> None:
    client = Client(
        secure_broker.tls_port, "dev-a", "not-the-password", tls=True,
        ca_file=secure_broker.broker.ca_cert,
    )  # fmt: skip
    clients.append(client)
    assert client.connect() == "Not authorized"
    hub_as_device = Client(
        secure_broker.hub_port, HUB_USERNAME, secure_broker.devices["dev-a"].password
    )
    clients.append(hub_as_device)
    assert hub_as_device.connect() == "Not authorized"


def test_tls_needs_the_generated_ca(secure_broker: SecureBroker, clients: list[Client]) -> None:
    device(secure_broker, "dev-a", clients)  # with the CA: connects (asserted inside)

    stranger = Client(
        secure_broker.tls_port, "dev-a", secure_broker.devices["dev-a"].password, tls=True
    )  # the system's trust store only
    with pytest.raises(ssl.SSLCertVerificationError):
        stranger.connect()


def test_a_revoked_device_cannot_log_in_after_a_reload(
    secure_broker: SecureBroker, clients: list[Client]
) -> None:
    assert remove_device_account(secure_broker.broker, "dev-a")
    process = secure_broker.mosquitto.process
    assert process is not None
    os.kill(process.pid, signal.SIGHUP)

    # The reload is asynchronous: dev-b's login (still valid) after the signal proves the broker
    # handled it, since mosquitto handles the signal before the next packet it reads.
    device(secure_broker, "dev-b", clients)
    client = Client(
        secure_broker.tls_port, "dev-a", secure_broker.devices["dev-a"].password, tls=True,
        ca_file=secure_broker.broker.ca_cert,
    )  # fmt: skip
    clients.append(client)
    assert client.connect() == "Not authorized"
