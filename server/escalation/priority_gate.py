"""How much of one kind of work runs at once, and which waiting piece goes next.

A flood of alarms (10,000 visits falling due together) must not hold a panic behind it: while
every slot is taken, urgent work (a panic or duress alarm's) waiting for one goes ahead of all
ordinary work (overdue, missed check-in, offline alarms'), and among work of one urgency the
first to ask goes first. With slots free nobody waits. The dispatcher has one gate per channel
(its sends), the escalation runtime one for its ladder evaluations.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

URGENT = 0
ORDINARY = 1


class PriorityGate:
    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("a gate needs at least one slot")
        self.slots = slots
        self.busy = 0
        self._order = itertools.count()
        self._waiting: list[tuple[int, int, asyncio.Future[None]]] = []

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @asynccontextmanager
    async def slot(self, urgent: bool) -> AsyncIterator[None]:
        """Hold one slot for the body of the ``async with``."""
        await self._acquire(URGENT if urgent else ORDINARY)
        try:
            yield
        finally:
            self._release()

    async def _acquire(self, rank: int) -> None:
        if self.busy < self.slots and not self._waiting:
            self.busy += 1
            return
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiting, (rank, next(self._order), turn))
        try:
            await turn  # the slot is handed over already counted as busy
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self._release()  # handed a slot just as it was cancelled: pass it on
            else:
                self._waiting = [w for w in self._waiting if w[2] is not turn]
                heapq.heapify(self._waiting)
            raise

    def _release(self) -> None:
        while self._waiting:
            _, _, turn = heapq.heappop(self._waiting)
            if not turn.done():
                turn.set_result(None)  # the slot passes straight to the next in line
                return
        self.busy -= 1


__all__ = ["ORDINARY", "URGENT", "PriorityGate"]
