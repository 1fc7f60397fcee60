"""One asyncio lock per key, kept only while someone holds or waits for it.

The escalation runtime evaluates one alarm's ladder at a time (two evaluations of the same alarm
must not both plan its next step and race to store its next deadline), while evaluations of
different alarms run side by side: their notification rows then reach the store's writer
together and share one transaction instead of queueing one commit each.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class KeyedLocks:
    def __init__(self) -> None:
        self._locks: dict[Hashable, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (None, 0))
        if lock is None:
            lock = asyncio.Lock()
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)

    def __len__(self) -> int:
        """Keys held or waited for (none once every holder is done)."""
        return len(self._locks)


__all__ = ["KeyedLocks"]
