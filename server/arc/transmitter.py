"""Sends one DC-09 message to the ARC's receivers until one acknowledges it.

The API the ARC link (``link.py``) uses::

    transmitter = Transmitter(
        [ReceiverAddress("primary", "arc.example", 5000), ReceiverAddress("backup", ...)],
        clock,
        key=ArcKey.from_hex(...) or None,
        ack_timeout_s=10.0,
        attempts_per_receiver=3,
    )
    outcome = await transmitter.send(frame)   # frame: dc09.Dc09Frame, its sequence fixed
    outcome.acked, outcome.receiver, outcome.attempts  # every Attempt, in order
    await transmitter.close()

``send`` tries the receivers in the order given: each up to ``attempts_per_receiver`` times,
the same frame (same sequence number) with a fresh timestamp each time, then the next one. A NAK,
no answer within ``ack_timeout_s`` (on the injected clock: tests drive it), a refused connection
or an answer that is not a valid DC-09 answer to this frame is retried; a DUH (the receiver read
the message and does not handle it: a resend cannot change that) moves on to the next receiver
at once. ``send`` never raises for what the network or a receiver does: the outcome says it, and
``Attempt.detail`` is safe to log and show (no key, no message content).

A frame's location (DC-09 extended data ``X``/``Y``) goes on the wire with
``send_location=True``. Some receivers do not read it: pysiaalarm, and any receiver built like
it, NAKs an ADM-CID message with two extended-data fields. An alarm must never be held up by an
optional field, so a message NAK'd with its location is sent again at once without it (same
sequence number), and the attempt's detail says so (docs/arc.md, "Location").

Once the backup has acked where the primary failed, the next alarms go to the backup first (a
dead primary would hold each of them for ``attempts_per_receiver`` time-outs); supervision tests
still go to the primary first, so the first test it acks brings the alarms back to it.

TCP keeps one connection per receiver, re-opened after any failure, with one message in flight
on it (an ``asyncio.Lock`` per receiver). UDP sends one datagram per attempt from a fresh socket
and waits for the answer datagram.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from loneguard.protocol.clock import Clock
from loneguard.server.arc.dc09 import (
    CR,
    LF,
    ArcKey,
    Dc09Answer,
    Dc09Error,
    Dc09Frame,
    parse_answer,
    random_pad,
)
from loneguard.server.loop_timer import call_later_on_loop

ReceiverName = Literal["primary", "backup"]
TransportName = Literal["tcp", "udp"]
AttemptOutcome = Literal["ack", "nak", "duh", "timeout", "refused", "error"]

# pysiaalarm (3.2.2) answers a message for an account it does not know with these, unframed:
# they can only make us retry, so they count as the NAK or DUH they say.
_UNFRAMED: Final[dict[bytes, AttemptOutcome]] = {b'"NAK"': "nak", b'"DUH"': "duh"}
_MAX_ANSWER: Final = 4096 + 10


@dataclass(frozen=True)
class ReceiverAddress:
    """One of the ARC's receivers, as agreed with the ARC."""

    name: ReceiverName
    host: str
    port: int
    transport: TransportName = "tcp"

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError(f"the {self.name} receiver has no host")
        if not 1 <= self.port <= 65535:
            raise ValueError(f"the {self.name} receiver's port must be 1-65535, got {self.port}")
        if self.transport not in ("tcp", "udp"):
            raise ValueError(f"transport must be tcp or udp, got {self.transport!r}")

    @classmethod
    def parse(
        cls, text: str, *, name: ReceiverName, transport: TransportName, setting: str
    ) -> ReceiverAddress:
        """``host:port`` (``[v6 address]:port`` too); the error names ``setting``."""
        host, sep, port_text = text.strip().rpartition(":")
        host = host.removeprefix("[").removesuffix("]")
        if not sep or not host or not port_text.isdigit():
            raise ValueError(f"{setting} must be host:port, got {text!r}")
        try:
            return cls(name, host, int(port_text), transport)
        except ValueError as exc:
            raise ValueError(f"{setting}: {exc}") from None

    def label(self) -> str:
        return f"{self.name} ({self.transport} {self.host}:{self.port})"


@dataclass(frozen=True)
class Attempt:
    """One try of one message on one receiver; times are wall milliseconds."""

    receiver: ReceiverName
    outcome: AttemptOutcome
    detail: str
    started_ms: int
    finished_ms: int


@dataclass(frozen=True)
class TransmitOutcome:
    acked: bool
    receiver: ReceiverName | None  # the one that acked
    attempts: list[Attempt] = field(default_factory=list)


class _Failed(Exception):
    def __init__(self, outcome: AttemptOutcome, detail: str) -> None:
        super().__init__(detail)
        self.outcome: AttemptOutcome = outcome
        self.detail = detail


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def usable(self) -> bool:
        return not self.writer.is_closing() and not self.reader.at_eof()

    def close(self) -> None:
        self.writer.close()


class _AnswerDatagram(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.answer: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()

    def datagram_received(self, data: bytes, addr: tuple[str | None, int]) -> None:
        if not self.answer.done():
            self.answer.set_result(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable arrives here on Linux: the receiver is not listening.
        if not self.answer.done():
            self.answer.set_exception(exc)


class Transmitter:
    def __init__(
        self,
        receivers: Sequence[ReceiverAddress],
        clock: Clock,
        *,
        key: ArcKey | None,
        ack_timeout_s: float,
        attempts_per_receiver: int,
        send_location: bool = False,
        pad: Callable[[int], str] = random_pad,
    ) -> None:
        if not receivers:
            raise ValueError("a transmitter needs at least one receiver")
        if ack_timeout_s <= 0:
            raise ValueError(f"ack_timeout_s must be positive, got {ack_timeout_s}")
        if attempts_per_receiver < 1:
            raise ValueError(
                f"attempts_per_receiver must be 1 or more, got {attempts_per_receiver}"
            )
        self.receivers = tuple(receivers)
        self._clock = clock
        self._key = key
        self._ack_timeout_s = ack_timeout_s
        self._attempts = attempts_per_receiver
        self._send_location = send_location
        self._pad = pad
        self._connections: dict[ReceiverName, _Connection] = {}
        self._locks: dict[ReceiverName, asyncio.Lock] = {}
        self._last_acked: ReceiverName | None = None

    def _order(self, frame: Dc09Frame) -> tuple[ReceiverAddress, ...]:
        """The receivers in the order this frame tries them: as configured, except that an
        alarm starts with the receiver that acked last."""
        if frame.is_link_test or self._last_acked is None:
            return self.receivers
        first = [r for r in self.receivers if r.name == self._last_acked]
        return (*first, *(r for r in self.receivers if r.name != self._last_acked))

    async def send(
        self, frame: Dc09Frame, *, on_attempt: Callable[[Attempt], None] | None = None
    ) -> TransmitOutcome:
        """Send ``frame`` until a receiver acks it or every attempt has failed.
        ``on_attempt`` hears each attempt as it ends (to record it before the next starts)."""
        attempts: list[Attempt] = []
        for receiver in self._order(frame):
            with_location = self._send_location and frame.location is not None
            tries = 0
            while tries < self._attempts:
                attempt = await self._attempt(receiver, frame, with_location=with_location)
                if attempt.outcome == "nak" and with_location:
                    # Perhaps the location it cannot read: the same message without it, now,
                    # and not counted against the receiver's attempts.
                    with_location = False
                    attempt = replace(
                        attempt, detail=f"{attempt.detail}; sent again without the location"
                    )
                else:
                    tries += 1
                attempts.append(attempt)
                if on_attempt is not None:
                    on_attempt(attempt)
                if attempt.outcome == "ack":
                    self._last_acked = receiver.name
                    return TransmitOutcome(True, receiver.name, attempts)
                if attempt.outcome == "duh":
                    break
        return TransmitOutcome(False, None, attempts)

    async def close(self) -> None:
        for connection in self._connections.values():
            connection.close()
        for connection in self._connections.values():
            with contextlib.suppress(OSError):
                await connection.writer.wait_closed()
        self._connections.clear()

    async def _attempt(
        self, receiver: ReceiverAddress, frame: Dc09Frame, *, with_location: bool
    ) -> Attempt:
        lock = self._locks.setdefault(receiver.name, asyncio.Lock())
        async with lock:
            started_ms = self._clock.wall_ms()
            sent = frame if with_location else replace(frame, location=None)
            wire = sent.encode(wall_ms=started_ms, key=self._key, pad=self._pad)
            try:
                answer = await self._within_timeout(self._exchange(receiver, wire))
                answer.check_for(frame)
            except _Failed as failed:
                outcome, detail = failed.outcome, failed.detail
            except Dc09Error as exc:
                outcome, detail = "error", f"answer rejected: {exc}"
            except OSError as exc:
                outcome, detail = "error", f"network error: {exc.strerror or type(exc).__name__}"
            except asyncio.CancelledError:
                # The caller stopped mid-attempt: an answer may still come on this connection,
                # and it must not be read as the answer to the next message.
                self._drop_connection(receiver.name)
                raise
            else:
                outcome, detail = _judge(answer, started_ms)
            if outcome != "ack":
                self._drop_connection(receiver.name)
            return Attempt(receiver.name, outcome, detail, started_ms, self._clock.wall_ms())

    async def _within_timeout(self, exchange: Coroutine[Any, Any, Dc09Answer]) -> Dc09Answer:
        """Run the exchange, or fail when ``ack_timeout_s`` passes on the injected clock first
        (the deadline counts from the start of the attempt: connect, send and answer)."""
        loop = asyncio.get_running_loop()
        deadline: asyncio.Future[None] = loop.create_future()

        def expire() -> None:
            if not deadline.done():
                deadline.set_result(None)

        timer = call_later_on_loop(self._clock, loop, self._ack_timeout_s, expire)
        task = asyncio.ensure_future(exchange)
        try:
            waiting: set[asyncio.Future[Any]] = {task, deadline}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            task.cancel()  # the caller is stopping: the exchange stops with it
            raise
        finally:
            timer.cancel()
        if task.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, _Failed, Dc09Error, OSError):
            await task
        raise _Failed("timeout", f"no answer within {self._ack_timeout_s:g}s")

    async def _exchange(self, receiver: ReceiverAddress, wire: bytes) -> Dc09Answer:
        if receiver.transport == "tcp":
            raw = await self._tcp(receiver, wire)
        else:
            raw = await self._udp(receiver, wire)
        return self._read(raw)

    def _read(self, raw: bytes) -> Dc09Answer:
        unframed = _UNFRAMED.get(raw.strip())
        if unframed is not None:
            raise _Failed(unframed, f"unframed {raw.strip().decode()} (no CRC)")
        return parse_answer(raw[raw.find(LF) :] if LF in raw else raw, key=self._key)

    async def _tcp(self, receiver: ReceiverAddress, wire: bytes) -> bytes:
        connection = await self._connection(receiver)
        try:
            connection.writer.write(wire)
            await connection.writer.drain()
            return await _read_frame(connection.reader)
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            raise _Failed("error", f"connection lost: {type(exc).__name__}") from None

    async def _connection(self, receiver: ReceiverAddress) -> _Connection:
        existing = self._connections.get(receiver.name)
        if existing is not None and existing.usable():
            return existing
        self._drop_connection(receiver.name)
        try:
            reader, writer = await asyncio.open_connection(receiver.host, receiver.port)
        except ConnectionRefusedError:
            raise _Failed("refused", "connection refused") from None
        except OSError as exc:
            raise _Failed(
                "error", f"cannot connect: {exc.strerror or type(exc).__name__}"
            ) from None
        connection = _Connection(reader, writer)
        self._connections[receiver.name] = connection
        return connection

    def _drop_connection(self, name: ReceiverName) -> None:
        connection = self._connections.pop(name, None)
        if connection is not None:
            connection.close()

    async def _udp(self, receiver: ReceiverAddress, wire: bytes) -> bytes:
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                _AnswerDatagram, remote_addr=(receiver.host, receiver.port)
            )
        except OSError as exc:
            raise _Failed("error", f"cannot reach: {exc.strerror or type(exc).__name__}") from None
        try:
            transport.sendto(wire)
            return await protocol.answer
        except ConnectionRefusedError:
            raise _Failed("refused", "port unreachable (nothing listening)") from None
        except OSError as exc:
            raise _Failed("error", f"send failed: {exc.strerror or type(exc).__name__}") from None
        finally:
            transport.close()


async def _read_frame(reader: asyncio.StreamReader) -> bytes:
    """Bytes up to the answer's CR, or an unframed pysiaalarm NAK/DUH (which has none)."""
    data = b""
    while True:
        chunk = await reader.read(_MAX_ANSWER)
        if not chunk:
            raise _Failed("error", "the receiver closed the connection without answering")
        data += chunk
        if CR in data:
            return data[: data.index(CR) + 1]
        if data.strip() in _UNFRAMED:
            return data
        if len(data) > _MAX_ANSWER:
            raise _Failed("error", f"answer longer than {_MAX_ANSWER} bytes without a CR")


def _judge(answer: Dc09Answer, started_ms: int) -> tuple[AttemptOutcome, str]:
    if answer.kind == "ACK":
        return "ack", "ACK (encrypted)" if answer.encrypted else "ACK"
    if answer.kind == "DUH":
        return "duh", "DUH: the receiver does not handle this message"
    if answer.receiver_time_ms is None:
        return "nak", "NAK"
    offset_s = (answer.receiver_time_ms - started_ms) / 1000
    return "nak", f"NAK (the receiver's clock is {offset_s:+.0f}s from ours)"


__all__ = [
    "Attempt",
    "AttemptOutcome",
    "ReceiverAddress",
    "ReceiverName",
    "TransmitOutcome",
    "Transmitter",
    "TransportName",
]
