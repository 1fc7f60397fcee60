"""pysiaalarm as the ARC: a live DC-09 receiver on a free port, and the events it acked.

pysiaalarm's ``SIAClient`` is the receiver side of SIA DC-09 (Home Assistant's SIA integration
runs on it). It parses each line with ``SIAEvent.from_line``, checks the CRC, the account, the
key and the timestamp (within 40 s behind and 20 s ahead of its own clock, by default), answers
ACK, NAK or DUH, and hands each acked event to a callback: ``events`` here. Its UDP server
needs one fix-up on Python 3.11 (see ``sia_receiver``); nothing it checks is changed.

Keys: pysiaalarm takes a key as characters and uses their ASCII codes as the AES key, so these
helpers take an ``ArcKey`` made with ``ArcKey.from_characters`` and hand it the characters.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from pysiaalarm import SIAAccount, SIAEvent
from pysiaalarm.aio import CommunicationsProtocol, SIAClient

from loneguard.server.arc.dc09 import ArcKey
from loneguard.server.arc.transmitter import ReceiverAddress, ReceiverName, TransportName


def sia_account(account: str, key: ArcKey | None) -> SIAAccount:
    return SIAAccount(account, key.secret.decode("ascii") if key is not None else None)


@dataclass
class SiaReceiver:
    address: ReceiverAddress
    client: SIAClient
    events: list[SIAEvent] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def on_event(self, event: SIAEvent) -> None:
        self.events.append(event)
        self.arrived.set()

    async def wait_for(self, count: int) -> list[SIAEvent]:
        while len(self.events) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 10)
        return self.events


@asynccontextmanager
async def sia_receiver(
    name: ReceiverName,
    accounts: list[SIAAccount],
    transport: TransportName = "tcp",
) -> AsyncIterator[SiaReceiver]:
    """A pysiaalarm receiver on 127.0.0.1, a free port, for ``accounts``."""
    port = free_port(transport)
    holder: list[SiaReceiver] = []

    async def forward(event: SIAEvent) -> None:
        await holder[0].on_event(event)

    protocol = CommunicationsProtocol.TCP if transport == "tcp" else CommunicationsProtocol.UDP
    client = SIAClient("127.0.0.1", port, accounts, forward, protocol=protocol)
    receiver = SiaReceiver(ReceiverAddress(name, "127.0.0.1", port, transport), client)
    holder.append(receiver)
    await client.async_start()
    if transport == "udp":
        # pysiaalarm 3.2.2's UDP server asserts its transport is an asyncio.DatagramTransport,
        # which Python 3.11's selector transport is not (it is from 3.12): the assertion fails
        # in connection_made and the server would never answer. Hand it the transport it got.
        client.sia_server.transport = client.transport  # type: ignore[union-attr, assignment]
    try:
        yield receiver
    finally:
        await client.async_stop()


def free_port(transport: TransportName = "tcp") -> int:
    """A port nothing listens on now (the kernel's pick, closed again)."""
    kind = socket.SOCK_STREAM if transport == "tcp" else socket.SOCK_DGRAM
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
