"""A transmitter that answers as a test scripts it, for the link's own logic (ordering, retry
times, idempotency, state). The wire itself is tested against pysiaalarm, in the link's
pysiaalarm tests and the transmitter's."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

from loneguard.protocol.clock import FakeClock
from loneguard.server.arc.dc09 import ArcKey, Dc09Frame
from loneguard.server.arc.transmitter import Attempt, TransmitOutcome


@dataclass
class ScriptedTransmitter:
    """Answers "ack" (the primary acks) or "down" (both receivers time out), in script order,
    then acks; "hold" waits until the test sets ``release``; "crash" raises."""

    clock: FakeClock
    key: ArcKey | None = None
    script: list[str] = field(default_factory=list)
    sent: list[tuple[int, bytes]] = field(default_factory=list)  # (sequence, first frame)
    release: asyncio.Event = field(default_factory=asyncio.Event)

    closed: bool = False

    async def send(
        self, frame: Dc09Frame, *, on_attempt: Callable[[Attempt], None] | None = None
    ) -> TransmitOutcome:
        outcome = await self._answer(frame)
        for attempt in outcome.attempts:
            if on_attempt is not None:
                on_attempt(attempt)
        return outcome

    async def close(self) -> None:
        self.closed = True

    async def _answer(self, frame: Dc09Frame) -> TransmitOutcome:
        now = self.clock.wall_ms()
        self.sent.append((frame.sequence, frame.encode(wall_ms=now, key=self.key)))
        step = self.script.pop(0) if self.script else "ack"
        if step == "crash":
            raise RuntimeError("a fault in the transmitter")
        if step == "hold":
            await self.release.wait()
            step = "ack"
        if step == "ack":
            return TransmitOutcome(True, "primary", [Attempt("primary", "ack", "", now, now)])
        return TransmitOutcome(
            False,
            None,
            [
                Attempt("primary", "timeout", "no answer in 10 s", now, now),
                Attempt("backup", "refused", "connection refused", now, now),
            ],
        )
