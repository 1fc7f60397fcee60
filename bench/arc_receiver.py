"""An Alarm Receiving Centre's receiver for the ARC benchmark: pysiaalarm, in its own thread.

pysiaalarm is a maintained SIA DC-09 receiver library. Its TCP server writes the ACK (and waits
for the write to drain) before it calls the function given for each event, so the time that
function runs is the time the ARC acked: that is when ``arrivals`` gets the event.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from types import TracebackType

from pysiaalarm import SIAAccount, SIAEvent
from pysiaalarm.aio import SIAClient

# pysiaalarm logs a warning with the whole line for each message it NAKs (the located run NAKs
# every alarm once, by design): the bench's output is its JSON, not 200 of those.
logging.getLogger("pysiaalarm").setLevel(logging.ERROR)


class ArcReceiver:
    """A DC-09 receiver on 127.0.0.1 for one account; ``key`` is the key as pysiaalarm takes
    it (16, 24 or 32 characters, whose ASCII bytes are the AES key), None for plain text."""

    def __init__(self, account: str, key: str | None) -> None:
        self._account = SIAAccount(account, key)
        self.arrivals: queue.Queue[tuple[float, SIAEvent]] = queue.Queue()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._started = threading.Event()
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="arc-receiver", daemon=True)

    async def _on_event(self, event: SIAEvent) -> None:
        self.arrivals.put((time.perf_counter(), event))

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        client = SIAClient("127.0.0.1", 0, [self._account], self._on_event)
        await client.async_start()
        server = client.server  # type: ignore[attr-defined]  # the TCP subclass has it
        self.port = server.sockets[0].getsockname()[1]
        self._started.set()
        await self._stop.wait()
        await client.async_stop()
        # Connections end when their peer closes them (the bench closes its own and stops the
        # hub first): give them a moment to, rather than closing the loop under them.
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        if pending:
            await asyncio.wait(pending, timeout=2)

    def _run(self) -> None:
        try:
            self._loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported by __enter__ or ignored after stop
            self._failure = exc
            self._started.set()

    def next_event(self, timeout: float) -> tuple[float, SIAEvent]:
        """The next event the receiver acked: (perf_counter time of the ack, event)."""
        try:
            return self.arrivals.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"the ARC receiver acked nothing within {timeout} s") from None

    def __enter__(self) -> ArcReceiver:
        self._thread.start()
        if not self._started.wait(10) or self._failure is not None:
            raise RuntimeError(f"the ARC receiver did not start: {self._failure!r}")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stop = self._stop
        if stop is not None:
            self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(10)
