"""A minimal asyncio MQTT 3.1.1 client for load generation: thousands of connections and tens of
thousands of messages a second from one Python process, so the generator costs little beside
what it measures. Only what the benchmarks need: CONNECT, SUBSCRIBE, PUBLISH at QoS 0 and 1
(both ways), PUBACK, DISCONNECT. Not for production: no reconnection, no TLS, no auth.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable

OnMessage = Callable[[str, bytes], None]


def _length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _text(value: str) -> bytes:
    data = value.encode()
    return struct.pack("!H", len(data)) + data


def _packet(first: int, body: bytes) -> bytes:
    return bytes([first]) + _length(len(body)) + body


def connect_packet(client_id: str, keepalive: int, clean: bool = True) -> bytes:
    flags = 0x02 if clean else 0
    return _packet(
        0x10, _text("MQTT") + bytes([4, flags]) + struct.pack("!H", keepalive) + _text(client_id)
    )


def publish_packet(
    topic: str, payload: bytes, qos: int = 0, packet_id: int = 0, retain: bool = False
) -> bytes:
    body = _text(topic) + (struct.pack("!H", packet_id) if qos else b"") + payload
    return _packet(0x30 | (qos << 1) | int(retain), body)


def subscribe_packet(topic: str, qos: int, packet_id: int = 1) -> bytes:
    return _packet(0x82, struct.pack("!H", packet_id) + _text(topic) + bytes([qos]))


DISCONNECT = b"\xe0\x00"


class LiteClient:
    """One connection. ``acked`` counts PUBACKs received; ``on_message`` gets each PUBLISH."""

    def __init__(self, on_message: OnMessage | None = None) -> None:
        self.on_message = on_message
        self.acked = 0
        self.received = 0
        self.acked_event = asyncio.Event()
        self.ack_target = 0
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._task: asyncio.Task[None] | None = None
        self._connack = asyncio.Event()
        self._suback = asyncio.Event()

    async def connect(self, host: str, port: int, client_id: str, keepalive: int = 60) -> None:
        self._reader, self._writer = await asyncio.open_connection(host, port)
        sock = self._writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._writer.write(connect_packet(client_id, keepalive))
        self._task = asyncio.create_task(self._read())
        await asyncio.wait_for(self._connack.wait(), 60)

    async def subscribe(self, topic: str, qos: int = 1) -> None:
        self.write(subscribe_packet(topic, qos))
        await asyncio.wait_for(self._suback.wait(), 60)

    def write(self, data: bytes) -> None:
        assert self._writer is not None
        self._writer.write(data)

    async def drain(self) -> None:
        assert self._writer is not None
        await self._writer.drain()

    async def close(self) -> None:
        if self._writer is not None:
            try:
                self._writer.write(DISCONNECT)
                await self._writer.drain()
                self._writer.close()
            except (ConnectionError, RuntimeError):
                pass
        if self._task is not None:
            self._task.cancel()

    async def _read(self) -> None:
        assert self._reader is not None and self._writer is not None
        reader, writer = self._reader, self._writer
        try:
            while True:
                first = (await reader.readexactly(1))[0]
                length, shift = 0, 0
                while True:
                    byte = (await reader.readexactly(1))[0]
                    length |= (byte & 0x7F) << shift
                    shift += 7
                    if not byte & 0x80:
                        break
                body = await reader.readexactly(length) if length else b""
                kind = first >> 4
                if kind == 3:  # PUBLISH
                    qos = (first >> 1) & 3
                    topic_len = struct.unpack_from("!H", body)[0]
                    topic = body[2 : 2 + topic_len].decode()
                    start = 2 + topic_len
                    if qos:
                        packet_id = body[start : start + 2]
                        writer.write(b"\x40\x02" + packet_id)
                        start += 2
                    self.received += 1
                    if self.on_message is not None:
                        self.on_message(topic, body[start:])
                elif kind == 4:  # PUBACK
                    self.acked += 1
                    if self.ack_target and self.acked >= self.ack_target:
                        self.acked_event.set()
                elif kind == 2:
                    self._connack.set()
                elif kind == 9:
                    self._suback.set()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            return
